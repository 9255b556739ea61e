"""Composition: the pages and API answers that show several apps' data (the top layer; nothing imports it)."""
