"""Test doubles and decoders: fake printers and serial devices, an ESC/POS decoder.

They live here, not in the tongban package, because no command uses them; the tests and bench/
import them as `tests.tools.*` (bench/ puts the checkout on sys.path).
"""
