"""Starting N worker processes under `accelerate launch`, for training and sharded evaluation
alike: the accelerate config and command (`accelerate.py`) and the worker protocol, including
the per-rank error files that carry a worker's one-line error to the launching process
(`workers.py`). Floor 0: nothing here imports a workflow; each workflow passes the module
its workers run (`python -m <module> ...`)."""
