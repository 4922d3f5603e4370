"""Static reference data: countries the shop sells to, tax and shipping rules, names, cities."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    region: str
    share: float  # share of customers
    tax_rate: float  # sales tax / VAT charged on goods and shipping
    cities: tuple[str, ...]


COUNTRIES = (
    Country("US", "United States", "North America", 0.58, 0.07,
            ("New York", "Los Angeles", "Chicago", "Houston", "Phoenix", "Seattle", "Austin")),
    Country("CA", "Canada", "North America", 0.08, 0.13, ("Toronto", "Montreal", "Vancouver")),
    Country("GB", "United Kingdom", "Europe", 0.10, 0.20, ("London", "Manchester", "Leeds")),
    Country("DE", "Germany", "Europe", 0.07, 0.19, ("Berlin", "Munich", "Hamburg")),
    Country("FR", "France", "Europe", 0.05, 0.20, ("Paris", "Lyon", "Marseille")),
    Country("NL", "Netherlands", "Europe", 0.03, 0.21, ("Amsterdam", "Rotterdam")),
    Country("IE", "Ireland", "Europe", 0.02, 0.23, ("Dublin", "Cork")),
    Country("AU", "Australia", "Asia Pacific", 0.05, 0.10, ("Sydney", "Melbourne", "Brisbane")),
    Country("NZ", "New Zealand", "Asia Pacific", 0.01, 0.15, ("Auckland", "Wellington")),
    Country("JP", "Japan", "Asia Pacific", 0.01, 0.10, ("Tokyo", "Osaka")),
)  # fmt: skip
HOME_COUNTRY = "US"
FREE_SHIPPING_FROM_CENTS = 7_500
DOMESTIC_SHIPPING_CENTS = 599
INTERNATIONAL_SHIPPING_CENTS = 1_499

FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Oliver", "Sophia", "Elijah", "Isabella", "James",
    "Mia", "Lucas", "Amelia", "Mateo", "Harper", "Ethan", "Evelyn", "Leo", "Aria", "Jack",
    "Chloe", "Henry", "Layla", "Owen", "Nora", "Sebastian", "Zoe", "Daniel", "Hannah", "Samuel",
    "Lea", "Felix", "Emilia", "Louis", "Ines", "Hugo", "Yuki", "Hana", "Ruby", "Finn",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Martinez",
    "Lopez", "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Martin", "Lee", "Walker",
    "Young", "King", "Wright", "Scott", "Green", "Baker", "Adams", "Nelson", "Hill", "Campbell",
    "Mueller", "Schmidt", "Dubois", "Moreau", "Jansen", "Murphy", "Tanaka", "Sato", "Kelly",
)  # fmt: skip
