"""Reads the TensorBoard event files under a directory (a folder per run) with TensorBoard's own readers.

Prints JSON: per folder, its event files, the first Event's file_version (read raw, without TensorBoard's
conversions), whether every summary value was a simple_value, and per scalar tag the list of
[step, wall_time, float32 bits of the value] that EventAccumulator loaded. Used by test/tensorboard-run.test.ts.
"""

import json
import os
import struct
import sys

from tensorboard.backend.event_processing import event_accumulator, event_file_loader


def bits(value):
    return struct.unpack("<I", struct.pack("<f", value))[0]


def main(root):
    out = {}
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        if not os.path.isdir(folder):
            continue
        files = sorted(f for f in os.listdir(folder) if "tfevents" in f)
        raw = [e for f in files for e in event_file_loader.LegacyEventFileLoader(os.path.join(folder, f)).Load()]
        ea = event_accumulator.EventAccumulator(folder, size_guidance={event_accumulator.SCALARS: 0})
        ea.Reload()
        out[name] = {
            "files": files,
            "file_version": raw[0].file_version if raw else None,
            "events": len(raw),
            "all_simple": all(v.HasField("simple_value") for e in raw for v in e.summary.value),
            "scalars": {
                tag: [[s.step, s.wall_time, bits(s.value)] for s in ea.Scalars(tag)] for tag in ea.Tags()["scalars"]
            },
        }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
