"""Benchmarks: Tastemaker's models measured side by side with the reference library (implicit).

* :mod:`benchmarks.synthetic` makes power-law interaction data of any size (the same arrays feed both
  libraries);
* :mod:`benchmarks.speed` times training epochs, top-10 for every user, EASE and peak memory against
  implicit on the CPU;
* :mod:`benchmarks.quality` ranks every model on the demo data's held-out split;
* :mod:`benchmarks.gpu` measures the same speed figures on a CUDA card with nothing but torch.

Results and the commands that produced them are in ``docs/benchmarks.md``.
"""
