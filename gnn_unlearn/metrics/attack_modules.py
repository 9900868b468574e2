"""The attacks shipped with the library; importing this module registers them."""
