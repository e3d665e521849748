"""Data in: reading a table (``reading``), guessing its columns' roles (``roles``), preparing model-ready arrays
(``preparing``), and the bundled samples (``datasets``).
"""
