"""A panel of models: which ones (selection), calling them at once (fan-out), and a failed
call in a few words (summary). Shared by multi-generate and debate, which import it and
never each other."""
