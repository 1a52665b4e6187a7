#!/usr/bin/env python3
"""Writes the ~50 KB benchmark page to stdout: a product landing page with a hero (data-ew
markers), a nav, a CTA, a promo banner, 120 product cards and a footer. Deterministic."""
import sys

cards = []
for i in range(160):
    cards.append(
        f'<article class="card" id="p{i}"><h3>Product {i} — “Ein Bär”</h3>'
        f'<img src="/img/{i}.png" alt="product {i}" width="120" height="90">'
        f'<p class="price">€{i * 3 + 9}.99</p><p>Lorem ipsum dolor sit amet, consectetur '
        f'adipiscing elit, sed do eiusmod tempor incididunt ut labore.</p>'
        f'<a class="buy" href="/buy/{i}">Buy</a></article>\n')
page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Edgewise shop</title>
<link rel="stylesheet" href="/site.css"><script src="/app.js" defer></script></head>
<body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/pricing">Pricing</a></li></ul></nav>
<section data-ew="hero" class="hero"><h1>Experiments at the edge</h1>
<p class="sub">Ship tests without flicker.</p>
<a id="cta" class="btn" href="/signup">Start free</a></section>
<div class="promo">Spring sale: 20% off</div>
<main class="grid">
{''.join(cards)}</main>
<footer><p>© Edgewise</p></footer>
</body></html>
"""
sys.stdout.write(page)
