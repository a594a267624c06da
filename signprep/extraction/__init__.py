"""The extraction run: pipeline configuration -> one sample at a time -> parallel workers -> shards.

`pipeline` (what a run computes), `sample` (one video through the stages into a part
file), `runner` (the job: lock, recover, skip, parallel workers, pack, summary),
`backends` (where workers run), `planning` (frames, core-hours and storage before a run),
and the process plumbing the workers need (`lock`, `native_logs`, `free_memory`).
"""
