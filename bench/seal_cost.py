"""What sealing costs per frame (row S): zchat.seal's Keyring.seal, what the broker does once per
publish, and KeyChain.open, what every receiver (and every bench driver) does once per delivery,
at 100 B and 2 KB payloads; PyNaCl's checked calls (seal / open_frame, the reference forms) for
comparison. Best of --repeats timings of --number calls each, in microseconds per frame.

  python bench/seal_cost.py
"""
import argparse
import os
import sys
import timeit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit

from zchat import seal as sl

SIZES = (100, 2048)


def per_call_us(fn, number, repeats):
    return round(min(timeit.repeat(fn, number=number, repeat=repeats)) / number * 1e6, 2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--number", type=int, default=20000, help="calls per timing")
    ap.add_argument("--repeats", type=int, default=7, help="timings; the best one counts")
    a = ap.parse_args()
    keyring, topic = sl.Keyring(), b"g:bench|"
    epoch, key = keyring.current(sl.scope_of(topic))
    chain = sl.KeyChain()
    chain.add(sl.scope_of(topic), epoch, key)
    out = {"bench": "seal_cost", "number": a.number, "repeats": a.repeats}
    ok = True
    for n in SIZES:
        payload = os.urandom(n)
        frame = keyring.seal(topic, payload)
        ok &= chain.open(topic, frame) == payload == sl.open_frame(topic, frame, key)
        nonce = os.urandom(sl.NONCE_BYTES)
        out[f"seal_{n}_us"] = per_call_us(lambda payload=payload: keyring.seal(topic, payload), a.number, a.repeats)
        out[f"open_{n}_us"] = per_call_us(lambda frame=frame: chain.open(topic, frame), a.number, a.repeats)
        out[f"ref_seal_{n}_us"] = per_call_us(
            lambda payload=payload, nonce=nonce: sl.seal(topic, epoch, key, payload, nonce), a.number, a.repeats)
        out[f"ref_open_{n}_us"] = per_call_us(lambda frame=frame: sl.open_frame(topic, frame, key), a.number, a.repeats)
    out.update({"lost": 0, "dup": 0, "ooo": 0, "ok": bool(ok)})
    emit(out)


if __name__ == "__main__":
    main()
