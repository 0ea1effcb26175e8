"""`make bench-voice`: spoken orders through the real path, and how many end right.

espeak-ng speaks orders for a random sample of the demo catalog ("get me some plastic wrap"),
with several voices and speeds, each clean and with pink noise mixed in by sox. Every clip is
uploaded over HTTP to the device API pool (granian, `dash.wsgi:device_application`), stored,
transcribed by a real Celery worker (pocketsphinx + rapidfuzz) and settled in PostgreSQL; the
bench polls `GET /api/v1/device/events/<id>` like a wand. A simulated customer then answers
"Did you mean ...?" the way a person would: Confirm when the proposal is right, Choose the
right product when it is among the candidates, else Discard. A few things that are not in
the catalog are spoken too (nothing should be ordered for them without a confirmation).

Prints: the share of orders ending as the right product (directly or after confirmation), the
share placed directly, the share of wrong products placed directly, and transcription seconds
per second of audio (the worker's decode time over the clips' length).

    python -m dash.localstack run -- python -m bench.voice --sample 40
    make bench-voice BENCH_VOICE_ARGS="--sample 100 --seed 3"
"""

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
LEADS = ["", "buy", "order", "get me", "please order", "i need"]
MEASURES = ["", "some", "a pack of", "some more"]
VOICES = ["en-us", "en-us+m3", "en+f3", "en-gb"]
SPEEDS = [135, 165]
NOT_IN_CATALOG = [
    "order a box of cereal",
    "buy some motor oil",
    "get me a new television",
    "i need some orange juice",
    "buy a bag of rice",
    "get me some printer ink",
    "order a pair of socks",
    "hello how are you",
]


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def synthesize(text: str, voice: str, speed: int, path: Path, *, noise: float) -> Path:
    clean = path.with_suffix(".clean.wav")
    sh("espeak-ng", "-v", voice, "-s", str(speed), "-w", str(clean), text)
    if not noise:
        clean.rename(path)
        return path
    # Pink noise at `noise` amplitude (about 15-20 dB under espeak's speech), mixed in.
    noise_file = path.with_suffix(".noise.wav")
    sh("sox", str(clean), str(noise_file), "synth", "pinknoise", "vol", str(noise))
    sh("sox", "-m", str(clean), str(noise_file), str(path))
    clean.unlink()
    noise_file.unlink()
    return path


class Stack:
    def __init__(self, workdir: Path, env: dict[str, str]):
        self.workdir = workdir
        self.env = env
        self.procs: dict[str, subprocess.Popen] = {}

    def spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        self.procs[name] = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=40, help="catalog products spoken (each clean and noisy)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--noise", type=float, default=0.08, help="pink noise amplitude for the noisy clips (0 = none)")
    parser.add_argument("--voices", default=",".join(VOICES))
    parser.add_argument("--speeds", default=",".join(map(str, SPEEDS)))
    parser.add_argument(
        "--history",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the sampled products were delivered to the customer before (reorders)",
    )
    args = parser.parse_args()
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            print(f"{tool} is missing: `make system-deps` installs it (Debian packages espeak-ng, sox).")
            return 2
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("Run under PostgreSQL: python -m dash.localstack run -- python -m bench.voice")
        return 2

    from dash.localstack import free_port, wait_for_port

    workdir = Path(tempfile.mkdtemp(prefix="dash-bench-voice-"))
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dash.settings",
        "DASH_MEDIA_ROOT": str(workdir / "media"),
        "DASH_HOLD_SECONDS": "86400",  # nothing is released while the bench runs
        "DASH_DEVICE_BURST": "100000",
        "DASH_DEVICE_RATE_PER_MINUTE": "100000",
        "DASH_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    os.environ.update({k: env[k] for k in ("DJANGO_SETTINGS_MODULE", "DASH_MEDIA_ROOT", "DASH_HOLD_SECONDS", "DASH_LOG_LEVEL")})
    py = sys.executable
    subprocess.run([py, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)

    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    from django.contrib.auth import get_user_model

    from devices.models import DeviceKind, VoiceClip
    from devices.services import device_claim, device_provision
    from devices.voice import services as voice
    from orders.errors import OrderStateError
    from orders.models import IN_PROGRESS, Order
    from orders.services import order_cancel
    from partners.demo_catalog import DEMO_CATALOG
    from partners.services import catalog_load_demo

    catalog_load_demo()
    customer, _ = get_user_model().objects.get_or_create(username="bench-voice", defaults={"email": "bench-voice@dash.local"})
    wand = device_provision(kind=DeviceKind.WAND)
    device_claim(customer_id=customer.pk, claim_code=wand.device.claim_code, name="Bench wand")
    token = wand.token

    stack = Stack(workdir, env)
    stack.spawn(
        "web",
        [
            py,
            "-m",
            "granian",
            "--interface",
            "wsgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "dash.wsgi:device_application",
        ],
    )
    stack.spawn(
        "worker",
        [
            str(Path(py).with_name("celery")),
            "-A",
            "dash",
            "worker",
            "--pool",
            "solo",
            "-Q",
            "celery",
            "-l",
            "INFO",
            "--without-mingle",
            "--without-gossip",
        ],
    )
    try:
        wait_for_port(port, 60, stack.procs["web"])
        deadline = time.monotonic() + 90
        while " ready." not in stack.log("worker"):
            if time.monotonic() > deadline or stack.procs["worker"].poll() is not None:
                print(stack.log("worker")[-3000:])
                return 2
            time.sleep(0.2)
        return run(args, workdir, port, token, customer, voice, VoiceClip, Order, IN_PROGRESS, order_cancel, OrderStateError, DEMO_CATALOG)
    finally:
        stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def run(args, workdir, port, token, customer, voice, VoiceClip, Order, IN_PROGRESS, order_cancel, OrderStateError, catalog) -> int:
    rng = random.Random(args.seed)
    products = [p for brand in catalog for p in brand.products]
    sample = rng.sample(products, min(args.sample, len(products)))
    voices = args.voices.split(",")
    speeds = [int(s) for s in args.speeds.split(",")]
    clips = []
    for i, product in enumerate(sample):
        phrase = rng.choice(product.aliases)
        text = " ".join(w for w in (rng.choice(LEADS), rng.choice(MEASURES), phrase) if w)
        voice_name, speed = voices[i % len(voices)], speeds[(i // len(voices)) % len(speeds)]
        for condition, noise in (("clean", 0.0), ("noisy", args.noise)):
            if condition == "noisy" and not noise:
                continue
            clips.append(
                (
                    product.sku,
                    text,
                    voice_name,
                    speed,
                    condition,
                    synthesize(text, voice_name, speed, workdir / f"c{len(clips)}.wav", noise=noise),
                )
            )
    for j, text in enumerate(NOT_IN_CATALOG):
        clips.append(
            (
                None,
                text,
                voices[j % len(voices)],
                speeds[0],
                "not_in_catalog",
                synthesize(text, voices[j % len(voices)], speeds[0], workdir / f"o{j}.wav", noise=0),
            )
        )

    if args.history:
        # The sampled products are the customer's usual ones: each was delivered before, so a
        # confident match may be placed directly (a first voice order of a product always asks).
        from django.db import transaction

        from orders.models import OrderStatus
        from orders.services import order_place
        from partners.models import Product

        for product in Product.objects.filter(sku__in=[p.sku for p in sample]):
            with transaction.atomic():
                order = order_place(customer_id=customer.pk, product=product, quantity=1, source="web", actor="bench")
            Order.objects.filter(pk=order.order.pk).update(status=OrderStatus.DELIVERED)

    url = f"http://127.0.0.1:{port}/api/v1/device/events"
    headers = {"Authorization": f"Device {token}"}
    tally: dict[str, Counter] = {"clean": Counter(), "noisy": Counter(), "not_in_catalog": Counter()}
    audio_seconds = decode_seconds = 0.0
    started = time.monotonic()
    mistakes = []
    for n, (sku, text, voice_name, speed, condition, path) in enumerate(clips):
        event_id = f"bench-{n}"
        with open(path, "rb") as fh:
            response = requests.post(
                url,
                headers=headers,
                data={"event_id": event_id, "type": "voice"},
                files={"audio": ("clip.wav", fh, "audio/wav")},
                timeout=30,
            )
        if response.status_code != 202:
            print(f"upload refused: {response.status_code} {response.text[:200]}")
            return 1
        deadline = time.monotonic() + 120
        while (answer := requests.get(f"{url}/{event_id}", headers=headers, timeout=10).json())["outcome"] == "processing":
            if time.monotonic() > deadline:
                print(f"clip {event_id} was not settled within 120 s")
                return 1
            time.sleep(0.05)
        clip = VoiceClip.objects.get(event_id=event_id, customer=customer)
        audio_seconds += clip.seconds
        decode_seconds += clip.transcription_seconds or 0.0
        candidates = [c["sku"] for c in clip.candidates]
        outcome = answer["outcome"]
        placed_sku = answer["order"]["product"]["sku"] if outcome == "order_placed" else None
        t = tally[condition]
        t["clips"] += 1
        if outcome == "order_placed":
            t["placed_directly"] += 1
            t["right_directly" if placed_sku == sku else "wrong_directly"] += 1
            if placed_sku != sku:
                mistakes.append((condition, text, clip.transcript, placed_sku, sku))
        elif outcome in ("needs_confirmation", "unknown_product"):
            t[outcome] += 1
            # The customer answers as a person would.
            if sku is not None and candidates and candidates[0] == sku and outcome == "needs_confirmation":
                voice.voice_clip_confirm(customer_id=customer.pk, public_id=clip.public_id)
                t["right_after_confirmation"] += 1
            elif sku is not None and sku in candidates:
                voice.voice_clip_choose(customer_id=customer.pk, public_id=clip.public_id, sku=sku)
                t["right_after_confirmation"] += 1
            else:
                voice.voice_clip_discard(customer_id=customer.pk, public_id=clip.public_id)
        else:
            t[outcome] += 1
        # Clear the way for the next clip (one order in progress per customer and product).
        for order_id in Order.objects.filter(customer=customer, status__in=IN_PROGRESS).values_list("pk", flat=True):
            try:
                order_cancel(order_id=order_id, actor="bench", reason="bench reset")
            except OrderStateError:
                pass
        print(f"  {n + 1}/{len(clips)} {condition:<14} {voice_name:<9} {speed}  {text!r} -> {clip.transcript!r} {outcome}", flush=True)
    wall = time.monotonic() - started

    def share(c: Counter, key: str) -> str:
        return f"{100.0 * c[key] / c['clips']:5.1f}%" if c["clips"] else "    -"

    print()
    print(
        f"bench-voice: {args.sample} products of the demo catalog, voices {','.join(voices)}, speeds {','.join(map(str, speeds))} wpm, seed {args.seed}"
    )
    print(f"{'':16}{'clips':>6}  {'right (direct or confirmed)':>28}  {'placed directly':>16}  {'wrong placed directly':>22}")
    for condition in ("clean", "noisy"):
        c = tally[condition]
        if not c["clips"]:
            continue
        right = Counter({"clips": c["clips"], "right": c["right_directly"] + c["right_after_confirmation"]})
        print(
            f"{condition:<16}{c['clips']:>6}  {share(right, 'right'):>28}  {share(c, 'placed_directly'):>16}  {share(c, 'wrong_directly'):>22}"
        )
    o = tally["not_in_catalog"]
    print(
        f"{'not in catalog':<16}{o['clips']:>6}  {'(should end unplaced)':>28}  {share(o, 'placed_directly'):>16}  {share(o, 'placed_directly'):>22}"
    )
    rtf = decode_seconds / audio_seconds if audio_seconds else 0.0
    print(
        f"transcription: {decode_seconds:.1f} s for {audio_seconds:.1f} s of audio = {rtf:.3f} s per second of audio ({'faster' if rtf < 1 else 'SLOWER'} than real time); wall {wall:.0f} s"
    )
    for condition, text, heard, placed, expected in mistakes:
        print(f"  wrong placed ({condition}): said {text!r}, heard {heard!r}, placed {placed} instead of {expected}")
    clean = tally["clean"]
    right_clean = (clean["right_directly"] + clean["right_after_confirmation"]) / max(1, clean["clips"])
    wrong = sum(tally[c]["wrong_directly"] for c in ("clean", "noisy"))
    ok = right_clean >= 0.9 and wrong == 0 and rtf < 1.0
    print(f"target (clear speech >= 90% right, 0% wrong placed directly, faster than real time): {'PASS' if ok else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
