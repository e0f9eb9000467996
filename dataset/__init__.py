"""The consented dance dataset: video I/O, pose extraction, consent, Hugging Face dataset build and publish."""
