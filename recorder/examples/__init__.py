"""Small, readable examples built on the public API (the demo runs ``market_maker``)."""
