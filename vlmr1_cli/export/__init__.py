"""From a training run to a clean, documented model folder, and from there to the Hub.

- `source`: find what to export in a training output folder (final model or latest
  checkpoint), with its vlmr1.json, recipe and metrics files.
- `merge`: load the checkpoint and fold a LoRA adapter into its base weights.
- `verify`: compare the merged model's logits with the adapter model's on a real sample.
- `card`: the model card (README.md) written beside the weights.
- `exporter`: the export itself, written atomically.
- `hub`: `push` through huggingface_hub, with a dry-run that needs no network.

Nothing here imports torch/transformers/huggingface_hub at module top.
"""
