"""The demo catalog: made-up household brands and their products, for `manage.py seed_demo`.

Each brand is one table row per product: (category, item, name, price, max quantity, aliases).
The SKU is `<brand prefix>-<category>-<item>` (BW-LP-001). The GTIN-13 is built from the GS1
prefix 290 -- the range GS1 reserves for restricted circulation (in-store numbering), so a demo
GTIN never names a real product -- then a 4-digit brand code, the 5-digit item number and a check
digit computed by python-stdnum: the same table gives the same GTINs on every run. Aliases are
what a person would say to a voice wand, lowercase, separated by "|", and unique in the catalog.
"""

from dataclasses import dataclass
from decimal import Decimal

from stdnum import ean

GTIN_PREFIX = "290"


@dataclass(frozen=True)
class DemoProduct:
    sku: str
    name: str
    gtin: str
    aliases: tuple[str, ...]
    price: Decimal
    max_quantity: int


@dataclass(frozen=True)
class DemoBrand:
    slug: str
    name: str
    products: tuple[DemoProduct, ...]


def demo_gtin(*, brand_code: int, item: int) -> str:
    body = f"{GTIN_PREFIX}{brand_code:04d}{item:05d}"
    return body + ean.calc_check_digit(body)


# (slug, name, SKU prefix, GTIN brand code, rows); the first brand is the demo partner's.
# fmt: off
_BRANDS = [
    ("brightwash", "Brightwash", "BW", 1001, [  # laundry and dish
        ("LP", 1, "Laundry Pods, Fresh Linen, 42 ct", "13.99", 4, "laundry pods|detergent pods|washing pods"),
        ("LP", 2, "Laundry Pods, Free & Clear, 42 ct", "13.99", 4, "free and clear pods|unscented laundry pods|sensitive laundry pods"),
        ("LP", 3, "Laundry Pods, Mountain Breeze, 81 ct", "24.99", 3, "big pack laundry pods|laundry pods value pack"),
        ("LD", 4, "Liquid Laundry Detergent, Original, 92 oz", "15.49", 3, "laundry detergent|liquid detergent|washing liquid"),
        ("LD", 5, "Liquid Laundry Detergent, Free & Clear, 92 oz", "15.49", 3, "free and clear detergent|unscented detergent"),
        ("LD", 6, "Powder Laundry Detergent, 5 lb", "12.99", 3, "powder detergent|washing powder|laundry powder"),
        ("FS", 7, "Fabric Softener, Spring Meadow, 64 oz", "7.99", 4, "fabric softener|softener|fabric conditioner"),
        ("FS", 8, "Dryer Sheets, Outdoor Fresh, 120 ct", "6.49", 5, "dryer sheets|tumble dryer sheets"),
        ("FS", 9, "Wool Dryer Balls, 6 ct", "14.99", 2, "dryer balls|wool dryer balls"),
        ("SR", 10, "Stain Remover Spray, 22 oz", "5.99", 4, "stain remover|stain spray|spot remover"),
        ("SR", 11, "Oxygen Bleach Powder, 3 lb", "9.99", 3, "oxygen bleach|oxi powder|laundry booster"),
        ("SR", 12, "Color Catcher Sheets, 24 ct", "4.49", 5, "color catcher sheets|colour catchers"),
        ("DW", 13, "Dishwasher Tablets, Lemon, 60 ct", "14.99", 4, "dishwasher tablets|dishwasher pods|dishwasher tabs"),
        ("DW", 14, "Dishwasher Tablets, All-in-One, 90 ct", "21.99", 3, "all in one dishwasher tablets|big pack dishwasher tablets"),
        ("DW", 15, "Rinse Aid, 16 oz", "4.99", 4, "rinse aid|dishwasher rinse aid"),
        ("DW", 16, "Dishwasher Cleaner, 6 ct", "6.99", 3, "dishwasher cleaner"),
        ("DS", 17, "Dish Soap, Original, 28 oz", "3.99", 6, "dish soap|washing up liquid|dishwashing liquid"),
        ("DS", 18, "Dish Soap, Lavender, 28 oz", "3.99", 6, "lavender dish soap"),
        ("DS", 19, "Dish Soap Refill, 90 oz", "9.49", 3, "dish soap refill|big dish soap"),
        ("WM", 20, "Washing Machine Cleaner, 3 ct", "5.99", 3, "washing machine cleaner|washer cleaner"),
    ]),
    ("evergreen-home", "Evergreen Home", "EH", 1002, [  # cleaning
        ("AP", 1, "All-Purpose Cleaner, Eucalyptus, 32 oz", "4.99", 5, "all purpose cleaner|multi surface spray|surface cleaner"),
        ("AP", 2, "All-Purpose Cleaner Refill, 64 oz", "7.99", 4, "all purpose cleaner refill|cleaner refill"),
        ("GL", 3, "Glass & Mirror Cleaner, 26 oz", "4.49", 4, "glass cleaner|window cleaner|mirror cleaner"),
        ("BA", 4, "Bathroom Cleaner Spray, 30 oz", "5.29", 4, "bathroom cleaner|shower cleaner|tub and tile cleaner"),
        ("TB", 5, "Toilet Bowl Cleaner, 2 x 24 oz", "6.99", 4, "toilet bowl cleaner|toilet cleaner"),
        ("WP", 6, "Disinfecting Wipes, Citrus, 75 ct", "5.99", 6, "disinfecting wipes|cleaning wipes|surface wipes"),
        ("WP", 7, "Disinfecting Wipes, 3-Pack", "14.49", 3, "disinfecting wipes value pack|wipes three pack"),
        ("FL", 8, "Floor Cleaner, Wood & Laminate, 32 oz", "6.49", 3, "floor cleaner|wood floor cleaner"),
        ("FL", 9, "Spray Mop Refill Pads, 12 ct", "9.99", 3, "mop pads|mop refills|spray mop pads"),
        ("SP", 10, "Non-Scratch Sponges, 6 ct", "4.29", 6, "sponges|kitchen sponges|scrub sponges"),
        ("SP", 11, "Microfiber Cloths, 12 ct", "11.99", 3, "microfiber cloths|cleaning cloths"),
        ("OV", 12, "Oven & Grill Cleaner, 14 oz", "5.99", 3, "oven cleaner|grill cleaner"),
        ("DG", 13, "Degreaser Spray, 32 oz", "5.49", 3, "degreaser|kitchen degreaser"),
        ("AF", 14, "Air Freshener Spray, Linen, 8 oz", "3.99", 6, "air freshener|room spray"),
        ("RG", 15, "Rubber Gloves, Medium, 3 pairs", "4.99", 4, "rubber gloves|cleaning gloves|dish gloves"),
        ("DR", 16, "Drain Cleaner Gel, 32 oz", "7.49", 2, "drain cleaner|drain unblocker"),
    ]),
    ("purepaper", "PurePaper", "PPR", 1003, [  # paper goods
        ("TP", 1, "Toilet Paper, Ultra Soft, 12 Mega Rolls", "16.99", 4, "toilet paper|toilet roll|bathroom tissue|loo roll"),
        ("TP", 2, "Toilet Paper, Ultra Strong, 24 Double Rolls", "21.99", 3, "strong toilet paper|big pack toilet paper"),
        ("TP", 3, "Toilet Paper, Recycled, 12 Rolls", "11.99", 4, "recycled toilet paper"),
        ("PT", 4, "Paper Towels, Select-a-Size, 6 Double Rolls", "14.49", 4, "paper towels|paper towel|kitchen roll"),
        ("PT", 5, "Paper Towels, 12 Triple Rolls", "27.99", 3, "big pack paper towels|paper towels value pack"),
        ("FT", 6, "Facial Tissues, 4 Boxes x 120", "7.99", 5, "tissues|facial tissues|tissue boxes"),
        ("FT", 7, "Facial Tissues with Lotion, 3 Boxes", "6.99", 5, "lotion tissues|soft tissues"),
        ("FT", 8, "Pocket Tissues, 15 Packs", "4.49", 5, "pocket tissues|travel tissues"),
        ("NP", 9, "Paper Napkins, 250 ct", "5.49", 4, "napkins|paper napkins|serviettes"),
        ("PL", 10, "Paper Plates, 9 in, 100 ct", "9.99", 3, "paper plates|disposable plates"),
        ("CU", 11, "Paper Cups, 12 oz, 50 ct", "6.99", 3, "paper cups|disposable cups"),
        ("WT", 12, "Flushable Wipes, 4 x 48 ct", "8.99", 4, "flushable wipes|moist toilet tissue"),
    ]),
    ("kitchen-hero", "Kitchen Hero", "KH", 1004, [  # kitchen wraps and bags
        ("WR", 1, "Plastic Wrap, 200 sq ft", "4.99", 5, "plastic wrap|cling film|cling wrap|food wrap"),
        ("WR", 2, "Aluminum Foil, 75 sq ft", "5.49", 5, "aluminum foil|aluminium foil|tin foil|foil"),
        ("WR", 3, "Heavy Duty Aluminum Foil, 50 sq ft", "6.99", 4, "heavy duty foil|thick foil"),
        ("WR", 4, "Parchment Paper, 60 sq ft", "5.29", 4, "parchment paper|baking paper"),
        ("WR", 5, "Wax Paper, 75 sq ft", "3.99", 4, "wax paper"),
        ("WR", 6, "Beeswax Wraps, 3 ct", "16.99", 2, "beeswax wraps|reusable food wraps"),
        ("BG", 7, "Sandwich Bags, 150 ct", "4.49", 5, "sandwich bags|lunch bags"),
        ("BG", 8, "Zipper Storage Bags, Quart, 80 ct", "6.49", 4, "zipper bags|storage bags|quart bags"),
        ("BG", 9, "Zipper Freezer Bags, Gallon, 60 ct", "7.49", 4, "freezer bags|gallon bags"),
        ("TR", 10, "Tall Kitchen Trash Bags, 13 gal, 90 ct", "15.99", 3, "trash bags|bin bags|garbage bags|bin liners"),
        ("TR", 11, "Large Trash Bags, 30 gal, 40 ct", "11.99", 3, "large trash bags|outdoor trash bags"),
        ("TR", 12, "Compostable Food Scrap Bags, 3 gal, 50 ct", "8.99", 3, "compost bags|food waste bags"),
        ("FC", 13, "Food Storage Containers, 20 pc", "12.99", 2, "food containers|storage containers"),
        ("BK", 14, "Baking Cups, 150 ct", "3.49", 4, "cupcake liners|baking cups|muffin cases"),
        ("OV", 15, "Oven Bags, 5 ct", "3.99", 3, "oven bags|roasting bags"),
    ]),
    ("little-sprout", "Little Sprout", "LS", 1005, [  # baby
        ("DI", 1, "Newborn Diapers, 84 ct", "24.99", 3, "newborn diapers|newborn nappies"),
        ("DI", 2, "Diapers, Size 1, 120 ct", "29.99", 3, "size one diapers|size 1 diapers|size one nappies"),
        ("DI", 3, "Diapers, Size 2, 112 ct", "29.99", 3, "size two diapers|size 2 diapers|size two nappies"),
        ("DI", 4, "Diapers, Size 3, 104 ct", "29.99", 3, "size three diapers|size 3 diapers|size three nappies"),
        ("DI", 5, "Diapers, Size 4, 92 ct", "29.99", 3, "size four diapers|size 4 diapers|size four nappies"),
        ("DI", 6, "Diapers, Size 5, 80 ct", "29.99", 3, "size five diapers|size 5 diapers|size five nappies"),
        ("TP", 7, "Training Pants, 2T-3T, 66 ct", "24.99", 3, "training pants|potty training pants"),
        ("WI", 8, "Baby Wipes, Fragrance Free, 8 x 72 ct", "19.99", 4, "baby wipes|wet wipes"),
        ("WI", 9, "Baby Wipes Travel Pack, 3 x 20 ct", "4.99", 5, "travel wipes|baby wipes travel pack"),
        ("DC", 10, "Diaper Rash Cream, 4 oz", "7.49", 3, "diaper cream|nappy cream|rash cream"),
        ("SH", 11, "Tear-Free Baby Shampoo & Wash, 16 oz", "6.99", 4, "baby shampoo|baby wash"),
        ("LO", 12, "Baby Lotion, 13.6 oz", "6.49", 4, "baby lotion"),
        ("FM", 13, "Infant Formula, Stage 1, 29 oz", "34.99", 4, "baby formula|infant formula|formula"),
        ("FP", 14, "Fruit & Veggie Pouches, 12 x 4 oz", "15.99", 3, "baby food pouches|fruit pouches|baby food"),
        ("NP", 15, "Nursing Pads, 60 ct", "8.99", 3, "nursing pads|breast pads"),
    ]),
    ("pawpal", "PawPal", "PAW", 1006, [  # pets
        ("DF", 1, "Dry Dog Food, Chicken & Rice, 30 lb", "49.99", 2, "dog food|dry dog food|kibble"),
        ("DF", 2, "Dry Dog Food, Small Breed, 12 lb", "27.99", 2, "small dog food|small breed dog food"),
        ("WF", 3, "Wet Dog Food, Beef Stew, 12 x 13 oz", "21.99", 3, "wet dog food|canned dog food"),
        ("DT", 4, "Dental Chews for Dogs, 30 ct", "18.99", 3, "dog dental chews|dental sticks|dog chews"),
        ("DT", 5, "Training Treats, Peanut Butter, 16 oz", "9.99", 4, "dog treats|training treats"),
        ("CF", 6, "Dry Cat Food, Indoor Salmon, 16 lb", "29.99", 2, "cat food|dry cat food|cat biscuits"),
        ("CF", 7, "Wet Cat Food Pate, Variety, 24 x 3 oz", "19.99", 3, "wet cat food|cat pate|canned cat food"),
        ("CT", 8, "Cat Treats, Tuna Crunch, 6 oz", "4.49", 5, "cat treats"),
        ("CL", 9, "Clumping Cat Litter, Unscented, 40 lb", "19.99", 2, "cat litter|kitty litter|litter"),
        ("CL", 10, "Lightweight Cat Litter, 20 lb", "16.99", 2, "lightweight litter|light cat litter"),
        ("PD", 11, "Puppy Training Pads, 100 ct", "24.99", 2, "puppy pads|pee pads|training pads"),
        ("WB", 12, "Dog Waste Bags, 360 ct", "12.99", 3, "poop bags|dog poop bags|dog waste bags"),
        ("SO", 13, "Pet Stain & Odor Remover, 32 oz", "9.99", 3, "pet stain remover|pet odor remover"),
        ("FC", 14, "Flea & Tick Collar, Large Dog", "39.99", 1, "flea collar|tick collar"),
    ]),
    ("daybreak-roasters", "Daybreak Roasters", "DBR", 1007, [  # coffee and tea
        ("GC", 1, "Ground Coffee, House Blend, 12 oz", "8.99", 5, "ground coffee|coffee|house blend"),
        ("GC", 2, "Ground Coffee, French Roast, 12 oz", "8.99", 5, "french roast|dark roast coffee"),
        ("GC", 3, "Ground Coffee, Decaf, 12 oz", "9.49", 5, "decaf coffee|decaf"),
        ("WB", 4, "Whole Bean Coffee, Ethiopia Yirgacheffe, 1 lb", "14.99", 4, "whole bean coffee|coffee beans|ethiopian coffee"),
        ("WB", 5, "Whole Bean Espresso Roast, 2 lb", "22.99", 3, "espresso beans|espresso roast"),
        ("CP", 6, "Coffee Pods, Medium Roast, 48 ct", "26.99", 3, "coffee pods|coffee capsules|single serve coffee"),
        ("CP", 7, "Espresso Capsules, Intense, 50 ct", "24.99", 3, "espresso capsules|espresso pods"),
        ("CB", 8, "Cold Brew Coffee Packs, 4 ct", "9.99", 4, "cold brew|cold brew packs"),
        ("IC", 9, "Instant Coffee, 8 oz", "7.99", 4, "instant coffee"),
        ("TB", 10, "English Breakfast Tea, 100 bags", "6.99", 5, "black tea|breakfast tea|english breakfast|tea bags"),
        ("TB", 11, "Green Tea, 40 bags", "4.99", 5, "green tea"),
        ("TB", 12, "Chamomile Herbal Tea, 40 bags", "4.99", 5, "chamomile tea|chamomile|herbal tea"),
        ("TB", 13, "Earl Grey Tea, 50 bags", "5.49", 5, "earl grey|earl grey tea"),
        ("CF", 14, "Coffee Filters, #4 Cone, 200 ct", "3.99", 5, "coffee filters|cone filters"),
        ("CR", 15, "Oat Milk Creamer, 32 oz", "4.99", 4, "oat creamer|coffee creamer"),
    ]),
    ("voltline", "Voltline", "VL", 1008, [  # batteries
        ("AA", 1, "AA Alkaline Batteries, 24 pack", "17.99", 3, "aa batteries|double a batteries|double a"),
        ("AA", 2, "AAA Alkaline Batteries, 24 pack", "17.99", 3, "aaa batteries|triple a batteries|triple a"),
        ("AA", 3, "AA Rechargeable Batteries, 8 pack", "19.99", 2, "rechargeable aa batteries|rechargeable batteries"),
        ("AA", 4, "AAA Rechargeable Batteries, 8 pack", "17.99", 2, "rechargeable aaa batteries"),
        ("CD", 5, "C Alkaline Batteries, 8 pack", "12.99", 3, "c batteries"),
        ("CD", 6, "D Alkaline Batteries, 8 pack", "14.99", 3, "d batteries"),
        ("9V", 7, "9V Alkaline Batteries, 4 pack", "11.99", 3, "9 volt batteries|nine volt batteries|smoke alarm batteries"),
        ("CR", 8, "CR2032 Lithium Coin Cells, 6 pack", "8.99", 4, "cr2032|coin batteries|coin cells|button batteries"),
        ("CR", 9, "CR2025 Lithium Coin Cells, 6 pack", "8.99", 4, "cr2025|cr2025 batteries"),
        ("HA", 10, "Hearing Aid Batteries, Size 312, 24 ct", "12.49", 3, "hearing aid batteries|size 312 batteries"),
        ("CH", 11, "Battery Charger, AA/AAA", "24.99", 1, "battery charger"),
    ]),
    ("clearspring", "ClearSpring", "CS", 1009, [  # water filters
        ("PF", 1, "Pitcher Replacement Filters, 3 pack", "17.99", 3, "water filters|pitcher filters|jug filters|water filter cartridges"),
        ("PF", 2, "Pitcher Replacement Filters, 6 pack", "32.99", 2, "water filters six pack|pitcher filters value pack"),
        ("PF", 3, "Water Filter Pitcher, 10 cup", "29.99", 1, "water filter pitcher|filter jug"),
        ("FF", 4, "Refrigerator Water Filter, Type A", "39.99", 2, "fridge filter|refrigerator water filter|fridge water filter"),
        ("FF", 5, "Refrigerator Water Filter, Type B", "39.99", 2, "fridge filter type b"),
        ("FA", 6, "Faucet Mount Filter Refills, 2 pack", "24.99", 2, "faucet filter|tap filter|faucet filter refill"),
        ("SH", 7, "Shower Filter Cartridge", "19.99", 2, "shower filter"),
        ("BT", 8, "Filter Water Bottle Refills, 2 pack", "14.99", 3, "bottle filters|water bottle filters"),
        ("US", 9, "Under-Sink Filter Cartridge", "44.99", 1, "under sink filter"),
    ]),
    ("meadow-and-mint", "Meadow & Mint", "MM", 1010, [  # personal care
        ("TP", 1, "Fluoride Toothpaste, Fresh Mint, 2 x 4.8 oz", "6.99", 5, "toothpaste|mint toothpaste"),
        ("TP", 2, "Whitening Toothpaste, 4.1 oz", "4.99", 5, "whitening toothpaste"),
        ("TB", 3, "Electric Toothbrush Heads, 4 ct", "19.99", 3, "toothbrush heads|brush heads|electric toothbrush heads"),
        ("TB", 4, "Soft Toothbrushes, 4 ct", "5.99", 4, "toothbrushes|toothbrush"),
        ("MW", 5, "Mouthwash, Cool Mint, 1 L", "6.49", 4, "mouthwash|mouth wash"),
        ("FL", 6, "Dental Floss, Mint, 2 x 50 m", "4.49", 5, "floss|dental floss"),
        ("SH", 7, "Shampoo, Daily Moisture, 25 oz", "7.99", 4, "shampoo"),
        ("SH", 8, "Conditioner, Daily Moisture, 25 oz", "7.99", 4, "conditioner|hair conditioner"),
        ("BW", 9, "Body Wash, Oat & Honey, 22 oz", "6.99", 4, "body wash|shower gel"),
        ("HS", 10, "Hand Soap Refill, Sea Salt, 56 oz", "8.49", 4, "hand soap|hand soap refill|liquid soap"),
        ("BS", 11, "Bar Soap, Unscented, 8 ct", "7.49", 4, "bar soap|soap bars"),
        ("DE", 12, "Deodorant, Cedar, 2 ct", "9.99", 4, "deodorant"),
        ("RZ", 13, "Razor Cartridges, 8 ct", "21.99", 3, "razor blades|razor cartridges|razor refills"),
        ("SC", 14, "Shaving Cream, 7 oz", "3.99", 4, "shaving cream|shave gel"),
        ("CS", 15, "Cotton Swabs, 500 ct", "3.99", 5, "cotton swabs|cotton buds"),
        ("HL", 16, "Hand & Body Lotion, 16 oz", "6.99", 4, "hand lotion|body lotion|moisturizer"),
        ("SU", 17, "Sunscreen Lotion SPF 50, 8 oz", "11.99", 3, "sunscreen|sun cream|sunblock"),
        ("LB", 18, "Lip Balm, 4 ct", "4.99", 5, "lip balm"),
    ]),
]
# fmt: on


def _brand(
    slug: str, name: str, prefix: str, brand_code: int, rows: list[tuple]
) -> DemoBrand:
    products = tuple(
        DemoProduct(
            sku=f"{prefix}-{category}-{item:03d}",
            name=product_name,
            gtin=demo_gtin(brand_code=brand_code, item=item),
            aliases=tuple(aliases.split("|")),
            price=Decimal(price),
            max_quantity=max_quantity,
        )
        for category, item, product_name, price, max_quantity, aliases in rows
    )
    return DemoBrand(slug=slug, name=name, products=products)


DEMO_CATALOG: tuple[DemoBrand, ...] = tuple(_brand(*row) for row in _BRANDS)
