"""The demo's parts, each with one job, held together by session.Workbench:

- `base`: what every part shares — the demo's mode (showcase refuses changes), its limits, its errors;
- `inference`: the model (load, switch, status) and running clips through it, with the result cache;
- `adapters`: the checkpoints folder and the adapters loaded on the model (load, unload, export);
- `files`: scratch folders (downloads, drafts) and the manifests a request may name or upload;
- `training`: starting and stopping a fine-tuning run from the demo.

Tabs and the OpenAI routes call these parts; none reaches into the model service or an engine's internals.
"""
