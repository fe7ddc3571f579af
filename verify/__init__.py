"""twinflow verification: exact Gaussian mathematics, SymPy derivations and the verification harness."""
__version__ = "0.1.0"
