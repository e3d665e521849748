"""The model: specs (``spec``), parameter names (``names``), prior families and priors, notation, the PyMC builders
(``build``) and the likelihoods on group sums (``gaussian``, ``gaussian_ops``, ``grouped``).
"""
