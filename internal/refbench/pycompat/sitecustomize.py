"""NumPy >= 1.24 compatibility for the reference's unmodified train_ssd.py (refbench only).

refbench puts this folder first on PYTHONPATH when it runs the reference's train_ssd.py as a
script: Python imports it at start-up, before the script. The reference's random crop
(vision/transforms/transforms.py, RandomSampleCrop) draws its mode with
numpy.random.choice over a tuple that mixes None and pairs; NumPy 1.24 (Debian 12's) refuses
to turn that into an array ("setting an array element with a sequence ... inhomogeneous
shape"), so every DataLoader worker dies on its first image. Such a call is answered here
as NumPy before 1.24 answered it: the element at an index drawn by numpy.random.choice over
the sequence's length, i.e. the same draw from the same global generator. Every other call
goes to NumPy unchanged. Nothing of the reference's files is modified.
"""
import numpy.random

_choice = numpy.random.choice


def _compat_choice(a, size=None, replace=True, p=None):
    try:
        return _choice(a, size, replace, p)
    except ValueError:
        if size is None and p is None and isinstance(a, (list, tuple)) and len(a) > 0:
            return a[_choice(len(a))]
        raise


numpy.random.choice = _compat_choice

# Debian's own sitecustomize (which this one shadows) only installs apport's hook.
try:
    import apport_python_hook
except ImportError:
    pass
else:
    apport_python_hook.install()
