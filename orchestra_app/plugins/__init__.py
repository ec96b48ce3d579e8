"""Protocol plugins: the SPI (base.py), the entry-point registry, matching and the built-in http plugin."""
