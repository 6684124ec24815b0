"""classical: dense SIFT, k-means, bag of words and an SMO SVM, in NumPy and Numba (never torch)."""
import os as _os

# See minidl/__init__.py: passive OpenMP waiting keeps Numba's threads from spinning against OpenBLAS.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
