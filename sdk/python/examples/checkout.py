"""Check out a seat of a feature, hold it until Enter, then release it.

    USHER_SERVER=127.0.0.1:7420 python3 examples/checkout.py cad
"""

import sys

import usher


def main() -> int:
    feature = sys.argv[1] if len(sys.argv) > 1 else "cad"
    try:
        with usher.Client(user="python-example") as client:  # servers from USHER_SERVER
            lease = client.checkout(feature, wait=10)
            lease.on_lost(lambda err: print(f"lost the seat of {feature}: {err.code}: {err}", file=sys.stderr))
            print(f"checked out {feature}", flush=True)
            sys.stdin.readline()  # the application runs here
            if not lease.alive:
                print(f"the seat of {feature} was lost", file=sys.stderr)
                return 2
            lease.release()
            print(f"released {feature}", flush=True)
    except usher.UsherError as e:
        print(f"usher: {e.code}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
