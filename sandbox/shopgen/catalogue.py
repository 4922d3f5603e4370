"""The product catalogue: departments, categories and products with lognormal prices per
category, unit costs at 35-70 % of the price, and Zipf-distributed popularity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# (category, department, median price in dollars, price spread sigma, product names)
CATEGORIES = (
    ("Tops", "Apparel", 29, 0.45, ("Tee", "Shirt", "Blouse", "Polo")),
    ("Outerwear", "Apparel", 119, 0.50, ("Jacket", "Parka", "Raincoat")),
    ("Shoes", "Apparel", 89, 0.40, ("Sneaker", "Boot", "Sandal", "Loafer")),
    ("Bags", "Accessories", 59, 0.55, ("Backpack", "Tote", "Duffel")),
    ("Jewelry", "Accessories", 45, 0.70, ("Necklace", "Ring", "Bracelet")),
    ("Kitchen", "Home", 35, 0.60, ("Pan", "Knife", "Kettle", "Board")),
    ("Bedding", "Home", 79, 0.45, ("Duvet", "Pillow", "Sheet Set")),
    ("Decor", "Home", 39, 0.65, ("Lamp", "Vase", "Frame", "Candle")),
    ("Audio", "Electronics", 99, 0.70, ("Headphones", "Speaker", "Earbuds")),
    ("Accessories", "Electronics", 25, 0.55, ("Cable", "Charger", "Case", "Stand")),
    ("Skincare", "Beauty", 28, 0.45, ("Serum", "Cream", "Cleanser")),
    ("Fitness", "Sports", 49, 0.65, ("Mat", "Dumbbell", "Band", "Bottle")),
)
ADJECTIVES = ("Classic", "Everyday", "Premium", "Eco", "Urban", "Nordic", "Pro", "Soft", "Lite")
COLOURS = ("Black", "White", "Navy", "Sand", "Olive", "Grey", "Rust", "Sky")
PRODUCTS_PER_CATEGORY_MEAN = 125
ZIPF_EXPONENT = 1.07


@dataclass(frozen=True)
class Catalogue:
    product_id: np.ndarray  # 1..n
    category_id: np.ndarray
    price_cents: np.ndarray
    unit_cost_cents: np.ndarray
    popularity_cdf: np.ndarray  # cumulative Zipf weights, for sampling by searchsorted
    sku: pa.Array
    name: pa.Array

    def sample_products(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """Indexes into the catalogue, popular products more often."""
        return np.searchsorted(self.popularity_cdf, rng.random(count), side="right")


def build_catalogue(rng: np.random.Generator) -> Catalogue:
    sizes = rng.poisson(PRODUCTS_PER_CATEGORY_MEAN, len(CATEGORIES))
    category_index = np.repeat(np.arange(len(CATEGORIES)), sizes)
    count = len(category_index)
    medians = np.array([c[2] for c in CATEGORIES], dtype=float)[category_index]
    sigmas = np.array([c[3] for c in CATEGORIES])[category_index]
    dollars = np.exp(np.log(medians) + sigmas * rng.standard_normal(count))
    # Shelf prices end in .99 or .49, never below $3.
    price_cents = np.maximum(np.round(dollars * 2) * 50 - 1, 299).astype(np.int64)
    cost_share = rng.uniform(0.35, 0.70, count)
    unit_cost_cents = np.maximum(np.round(price_cents * cost_share), 1).astype(np.int64)

    ranks = rng.permutation(count) + 1
    weights = ranks.astype(float) ** -ZIPF_EXPONENT
    popularity_cdf = np.cumsum(weights / weights.sum())
    popularity_cdf[-1] = 1.0

    product_id = np.arange(1, count + 1, dtype=np.int64)
    return Catalogue(
        product_id=product_id,
        category_id=category_index + 1,
        price_cents=price_cents,
        unit_cost_cents=unit_cost_cents,
        popularity_cdf=popularity_cdf,
        sku=pc.binary_join_element_wise(
            "SKU-", pc.utf8_lpad(pa.array(product_id).cast(pa.string()), 6, "0"), ""
        ),
        name=_product_names(rng, category_index),
    )


def _product_names(rng: np.random.Generator, category_index: np.ndarray) -> pa.Array:
    nouns = [noun for category in CATEGORIES for noun in category[4]]
    first_noun = np.cumsum([0] + [len(c[4]) for c in CATEGORIES])[:-1]
    noun_count = np.array([len(c[4]) for c in CATEGORIES])[category_index]
    noun = first_noun[category_index] + (rng.random(len(category_index)) * noun_count).astype(int)
    adjective = rng.integers(0, len(ADJECTIVES), len(category_index))
    colour = rng.integers(0, len(COLOURS), len(category_index))
    return pc.binary_join_element_wise(
        pc.take(pa.array(ADJECTIVES), adjective),
        pc.take(pa.array(nouns), noun),
        pc.take(pa.array(COLOURS), colour),
        " ",
    )
