"""Step counting shared by the official-SDK scripts: each step passes or ends the run with
'sdk: N passed, 1 failed'; a finished run prints 'sdk: N passed, 0 failed'."""
import sys

passed = 0


def check(name, cond):
    global passed
    if not cond:
        print(f"sdk: FAILED {name}")
        print(f"sdk: {passed} passed, 1 failed")
        sys.exit(1)
    passed += 1
    print(f"sdk: ok {name}")


def done():
    print(f"sdk: {passed} passed, 0 failed")
