"""Spoken orders from a wand: the clip's checks and storage, transcription, matching against
the catalog, and the customer's confirmation of an uncertain match."""
