"""A synthetic WebShop catalog written in the real data files' schema.

``generate_catalog(folder, num_products, seed)`` writes

- items_shuffle.json: a JSON array of raw product records, as scraped: asin ("B0" + 8
  characters), name, full_description, small_description (bullet points), pricing ("$12.99",
  or "$10.99$24.99" for a range), customization_options ({"Color": [{"value": "Navy Blue",
  "image": ...}], ...} or null), product_category ("Beauty & Personal Care › Hair Care › ..."),
  category (beauty, food, fashion, furniture, electronics), query (the search that found it),
  images, brand;
- items_ins_v2.json: asin -> {"attributes", "instruction", "instruction_attributes"} (the
  product's attributes and a synthetic instruction naming some of them);
- items_human_ins.json: asin -> a list of instructions in the crowd-written style, each with
  the attributes and option values it asks for.

Products come from per-category product types (a noun that also appears in the title, a
breadcrumb, attribute pools, option groups, a price band), brands and descriptors; their text
mentions their attributes, and an instruction's options are one value of each of the product's
option groups. The same seed gives the same files. Writing is streamed (records are not held)
and items_shuffle.json is written last, under a temporary name then renamed, so its presence
means the catalog is complete.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

CATEGORY_ROOTS = {
    "beauty": "Beauty & Personal Care",
    "food": "Grocery & Gourmet Food",
    "fashion": "Clothing, Shoes & Jewelry",
    "furniture": "Home & Kitchen › Furniture",
    "electronics": "Electronics",
}

# Option value pools, as a product page shows them (the loader lowercases them, "/" -> " | ").
COLORS = [
    "Black", "White", "Navy Blue", "Light Grey", "Dark Grey", "Charcoal Gray", "Beige", "Khaki",
    "Ivory", "Burgundy", "Wine Red", "Olive Green", "Mint Green", "Sky Blue", "Royal Blue",
    "Light Pink", "Rose Gold", "Dark Brown", "Espresso", "Walnut", "Teal", "Mustard Yellow",
    "Lavender", "Black/White", "Red/Black", "Grey/Blue", "Multicolor", "Clear", "Jet Black", "Silver",
    "Jade", "Hot Pink",
]
APPAREL_SIZES = ["X-Small", "Small", "Medium", "Large", "X-Large", "XX-Large", "3X-Large"]
SHOE_SIZES = ["6", "6.5", "7", "7.5", "8", "8.5", "9", "9.5", "10", "10.5", "11", "12", "7 Wide", "8 Wide",
              "9.5 Wide"]
JEANS_SIZES = ["30W x 30L", "32W x 30L", "32W x 32L", "34W x 32L", "36W x 32L", "38W x 34L"]
LIQUID_SIZES = ["8.4 Fl Oz (Pack of 1)", "12 Fl Oz (Pack of 1)", "16.9 Fl Oz (Pack of 1)",
                "8.4 Fl Oz (Pack of 2)", "33.8 Fl Oz (Pack of 1)", "3.4 Fl Oz"]
FOOD_SIZES = ["4 Ounce (Pack of 2)", "12 Ounce (Pack of 1)", "12 Ounce (Pack of 3)", "1 Pound (Pack of 1)",
              "2 Pound (Pack of 1)", "1.5 Ounce (Pack of 24)"]
COUNTS = ["12 Count", "24 Count", "12 Count (Pack of 2)", "36 Count", "6 Count (Pack of 4)", "100 Count"]
SCENTS = ["Lavender", "Coconut", "Unscented", "Eucalyptus Mint", "Citrus", "Tea Tree", "Vanilla", "Rose",
          "Fresh Linen", "Sandalwood"]
COFFEE_FLAVORS = ["Medium Roast", "Dark Roast", "Light Roast", "French Vanilla", "Hazelnut", "Decaf Colombian",
                  "Breakfast Blend", "Caramel"]
SWEET_FLAVORS = ["Chocolate Peanut Butter", "Cookies & Cream", "Sea Salt Caramel", "Mint Chocolate", "Almond",
                 "Raspberry", "Original", "Coconut"]
SAVORY_FLAVORS = ["Original", "Teriyaki", "Sea Salt", "Barbecue", "Sour Cream & Onion", "Sweet & Spicy",
                  "Black Pepper", "Jalapeno", "Salt & Vinegar"]
TEA_FLAVORS = ["Original", "Jasmine", "Mint", "Lemon Ginger", "Honey", "Matcha", "Peach"]
HOT_FLAVORS = ["Original", "Habanero", "Chipotle", "Garlic", "Ghost Pepper", "Mango Habanero"]
BED_SIZES = ["Twin", "Full", "Queen", "King", "California King"]
DIMENSIONS = ["100x45x45cm", "80x40x45cm", "120x40x45cm", "31.5 x 15.7 x 17.7 inch", "47.2 x 15.7 x 18.1 inch",
              "60x30x40cm"]
SOFA_STYLES = ["Modern", "Mid Century", "Rustic", "Tufted", "Armless", "Loveseat", "3-Seat Sofa", "Sleeper"]
SETS = ["1 Piece", "Set of 2", "Set of 4", "Set of 6"]
CABLE_LENGTHS = ["3 Feet", "6 Feet", "10 Feet", "15 Feet", "6 Feet (2 Pack)", "25 Feet"]
HAIR_LENGTHS = ["14 Inch", "16 Inch", "18 Inch", "20 Inch", "22 Inch", "24 Inch"]
CAMERA_SETS = ["1 Camera", "2 Cameras", "4 Cameras", "2 Cameras + Base Station"]
SUBWOOFER_SIZES = ["8 Inch", "10 Inch", "12 Inch", "Dual 12 Inch", "15 Inch"]
MIC_STYLES = ["Standard", "With Stand", "With Pop Filter", "Streaming Kit", "Pro"]
CAPACITIES = ["10000mAh", "20000mAh", "26800mAh", "5000mAh"]

# How an instruction names an option value of each group (human instructions).
OPTION_PHRASES = {
    "Color": (" in {v}", " in {v} color", ", {v} color", " that comes in {v}"),
    "Size": (" in size {v}", ", size {v}", " in {v}", " in a {v}"),
    "Scent": (" in {v} scent", " with a {v} scent", ", {v} scented"),
    "Flavor Name": (" in {v} flavor", ", {v} flavor", " with the {v} flavor"),
    "Style": (" in the {v} style", ", {v} style"),
    "Capacity": (" with {v} capacity", ", {v}"),
}

CATEGORY_ATTRIBUTES = {
    "beauty": ["cruelty free", "paraben free", "long lasting", "natural ingredients", "easy to use", "high quality"],
    "food": ["gluten free", "non gmo", "usda organic", "kosher certified", "low calorie", "natural ingredients"],
    "fashion": ["machine wash", "hand wash", "daily wear", "comfortable fit", "high quality"],
    "furniture": ["easy assemble", "easy to clean", "living room", "space saving", "heavy duty"],
    "electronics": ["easy to use", "high speed", "easy install", "plug and play", "high quality"],
}


_ACRONYMS = {"usb": "USB", "hdmi": "HDMI", "tv": "TV"}


def _type(category, noun, query, path, groups, attributes, price, words, plural=False, mass=False,
          gendered=False):
    title = " ".join(_ACRONYMS.get(w, w.title()) for w in noun.split())
    return {"category": category, "query": query, "noun": noun, "title": title, "path": path, "groups": groups,
            "attributes": attributes, "price": price, "words": words, "plural": plural, "mass": mass, "gendered": gendered}


PRODUCT_TYPES = [
    # beauty
    _type("beauty", "shampoo", "shampoo", "Hair Care › Shampoo & Conditioner › Shampoos",
          [("Scent", SCENTS), ("Size", LIQUID_SIZES)],
          ["sulfate free", "dry hair", "hair growth", "color treated", "argan oil", "damaged hair"], (6, 35),
          ["Moisturizing", "Clarifying", "Volumizing", "Repairing", "Hydrating"]),
    _type("beauty", "hair extensions", "hair extensions",
          "Hair Care › Hair Extensions, Wigs & Accessories › Hair Extensions",
          [("Color", COLORS), ("Size", HAIR_LENGTHS)],
          ["natural looking", "clip in", "human hair", "heat resistant", "easy to apply"], (15, 90),
          ["Straight", "Wavy", "Curly", "Thick", "Seamless"], plural=True),
    _type("beauty", "lipstick", "lipstick", "Makeup › Lips › Lipstick", [("Color", COLORS)],
          ["highly pigmented", "matte finish", "easy to apply", "long wear", "moisturizing"], (5, 25),
          ["Matte", "Velvet", "Creamy", "Satin", "Liquid"]),
    _type("beauty", "face moisturizer", "face moisturizer", "Skin Care › Face › Creams & Moisturizers",
          [("Size", LIQUID_SIZES), ("Scent", SCENTS)],
          ["fine lines", "dry skin", "sensitive skin", "hyaluronic acid", "fragrance free", "oil free"], (8, 60),
          ["Daily", "Night", "Anti Aging", "Lightweight", "Hydrating"]),
    _type("beauty", "nail polish", "nail polish", "Foot, Hand & Nail Care › Nail Art & Polish › Nail Polish",
          [("Color", COLORS)], ["non toxic", "quick dry", "gel polish", "chip resistant"], (4, 20),
          ["Glossy", "Gel", "Glitter", "Classic", "Pastel"]),
    _type("beauty", "electric toothbrush", "electric toothbrush",
          "Oral Care › Toothbrushes & Accessories › Powered Toothbrushes", [("Color", COLORS)],
          ["rechargeable", "sensitive teeth", "long battery life", "travel case", "waterproof"], (20, 120),
          ["Sonic", "Smart", "Whitening", "Travel", "Slim"]),
    _type("beauty", "makeup brush set", "makeup brush", "Tools & Accessories › Makeup Brushes & Tools › Brush Sets",
          [("Color", COLORS)], ["synthetic hair", "easy to clean", "travel size", "soft bristles"], (8, 40),
          ["Professional", "Kabuki", "Premium", "Essential", "Mini"]),
    _type("beauty", "body wash", "body wash", "Personal Care › Bath & Bathing Accessories › Bath › Body Washes",
          [("Scent", SCENTS), ("Size", LIQUID_SIZES)], ["dry skin", "sensitive skin", "sulfate free", "shea butter"],
          (5, 25), ["Nourishing", "Refreshing", "Gentle", "Exfoliating", "Creamy"]),
    # food
    _type("food", "coffee", "coffee", "Beverages › Coffee, Tea & Cocoa › Coffee › Ground Coffee",
          [("Flavor Name", COFFEE_FLAVORS), ("Size", FOOD_SIZES)],
          ["fair trade", "low acid", "whole bean", "single origin", "100% arabica"], (8, 40),
          ["Ground", "Whole Bean", "Premium", "Artisan", "Classic"], mass=True),
    _type("food", "protein bars", "protein bars", "Snack Foods › Bars › Protein Bars",
          [("Flavor Name", SWEET_FLAVORS), ("Size", COUNTS)],
          ["high protein", "low sugar", "keto friendly", "plant based", "individually wrapped"], (10, 45),
          ["Crunchy", "Chewy", "Baked", "Vegan", "Whey"], plural=True),
    _type("food", "beef jerky", "beef jerky", "Meat & Seafood › Jerky & Dried Meats › Jerky",
          [("Flavor Name", SAVORY_FLAVORS), ("Size", FOOD_SIZES)],
          ["high protein", "low fat", "grass fed", "keto friendly", "individually wrapped"], (7, 40),
          ["Smoked", "Peppered", "Original", "Thick Cut", "Tender"], mass=True),
    _type("food", "green tea", "tea", "Beverages › Coffee, Tea & Cocoa › Tea › Green",
          [("Flavor Name", TEA_FLAVORS), ("Size", COUNTS)],
          ["sugar free", "tea bags", "loose leaf", "antioxidant rich"], (5, 30),
          ["Organic", "Japanese", "Decaf", "Premium", "Herbal"], mass=True),
    _type("food", "potato chips", "potato chips", "Snack Foods › Chips & Crisps › Potato",
          [("Flavor Name", SAVORY_FLAVORS), ("Size", FOOD_SIZES)],
          ["kettle cooked", "individually wrapped", "vegan", "no artificial flavors"], (3, 30),
          ["Kettle", "Crinkle Cut", "Thin", "Baked", "Ridged"], plural=True),
    _type("food", "olive oil", "olive oil",
          "Pantry Staples › Cooking & Baking › Oils, Vinegars & Salad Dressings › Oils",
          [("Size", LIQUID_SIZES)], ["extra virgin", "cold pressed", "first cold pressed", "glass bottle"], (8, 50),
          ["Italian", "Greek", "Spanish", "Robust", "Mild"], mass=True),
    _type("food", "dark chocolate", "dark chocolate", "Snack Foods › Candy & Chocolate › Chocolate Bars",
          [("Flavor Name", SWEET_FLAVORS), ("Size", COUNTS)],
          ["sugar free", "dairy free", "fair trade", "keto friendly", "individually wrapped"], (4, 35),
          ["70% Cacao", "Belgian", "Swiss", "Bittersweet", "Single Origin"], mass=True),
    _type("food", "hot sauce", "hot sauce", "Pantry Staples › Sauces, Gravies & Marinades › Hot Sauce",
          [("Flavor Name", HOT_FLAVORS), ("Size", LIQUID_SIZES)],
          ["low sodium", "vegan", "sugar free", "small batch"], (4, 25),
          ["Extra Hot", "Smoky", "Louisiana", "Craft", "Fermented"], mass=True),
    # fashion
    _type("fashion", "sneakers", "sneakers", "Shoes › Fashion Sneakers", [("Color", COLORS), ("Size", SHOE_SIZES)],
          ["rubber sole", "non slip", "arch support", "lace up", "lightweight", "memory foam"], (25, 120),
          ["Running", "Walking", "Casual", "Slip On", "High Top"], plural=True, gendered=True),
    _type("fashion", "t-shirt", "t shirt", "Clothing › Shirts › T-Shirts",
          [("Color", COLORS), ("Size", APPAREL_SIZES)],
          ["short sleeve", "cotton spandex", "relaxed fit", "moisture wicking", "classic fit"], (8, 35),
          ["Crew Neck", "V Neck", "Graphic", "Basic", "Pocket"], gendered=True),
    _type("fashion", "hoodie", "hoodie", "Clothing › Fashion Hoodies & Sweatshirts",
          [("Color", COLORS), ("Size", APPAREL_SIZES)],
          ["long sleeve", "fleece lined", "drawstring closure", "relaxed fit", "kangaroo pocket"], (20, 60),
          ["Pullover", "Zip Up", "Oversized", "Heavyweight", "Athletic"], gendered=True),
    _type("fashion", "dress", "dress", "Clothing › Dresses › Casual", [("Color", COLORS), ("Size", APPAREL_SIZES)],
          ["short sleeve", "elastic waist", "button closure", "polyester spandex", "v neck"], (18, 70),
          ["Floral", "Maxi", "Midi", "Wrap", "Boho"]),
    _type("fashion", "jeans", "jeans", "Clothing › Jeans", [("Color", COLORS), ("Size", JEANS_SIZES)],
          ["slim fit", "button closure", "stretch fabric", "straight leg", "classic fit"], (20, 80),
          ["Skinny", "Bootcut", "Relaxed", "Straight", "Distressed"], plural=True, gendered=True),
    _type("fashion", "sandals", "sandals", "Shoes › Sandals › Flat Sandals",
          [("Color", COLORS), ("Size", SHOE_SIZES)],
          ["open toe", "rubber sole", "arch support", "ankle strap", "non slip"], (15, 60),
          ["Flat", "Slide", "Strappy", "Platform", "Gladiator"], plural=True),
    _type("fashion", "leggings", "leggings", "Clothing › Active › Active Leggings",
          [("Color", COLORS), ("Size", APPAREL_SIZES)],
          ["high waist", "tummy control", "moisture wicking", "squat proof", "four way stretch"], (12, 40),
          ["Yoga", "Workout", "Capri", "Fleece", "Seamless"], plural=True),
    _type("fashion", "socks", "athletic socks", "Clothing › Socks › Athletic Socks",
          [("Color", COLORS), ("Size", SETS)],
          ["moisture wicking", "cushioned sole", "breathable", "arch support"], (8, 30),
          ["Ankle", "Crew", "No Show", "Compression", "Quarter"], plural=True, gendered=True),
    # furniture
    _type("furniture", "sofa", "sofa", "Living Room Furniture › Sofas & Couches",
          [("Color", COLORS), ("Style", SOFA_STYLES)],
          ["mid century", "solid wood", "wood frame", "high density", "velvet fabric"], (200, 1200),
          ["Convertible", "Sectional", "Chesterfield", "Modular", "Upholstered"]),
    _type("furniture", "ottoman bench", "ottoman", "Living Room Furniture › Ottomans",
          [("Color", COLORS), ("Size", DIMENSIONS)],
          ["storage space", "faux leather", "tufted design", "wood legs"], (40, 160),
          ["Storage", "Tufted", "Folding", "Round", "Upholstered"]),
    _type("furniture", "bookshelf", "bookshelf", "Home Office Furniture › Bookcases",
          [("Color", COLORS), ("Size", DIMENSIONS)],
          ["storage space", "engineered wood", "open shelves", "industrial style"], (40, 250),
          ["5-Tier", "Ladder", "Corner", "Industrial", "Cube"]),
    _type("furniture", "dining chair", "dining chair", "Kitchen & Dining Room Furniture › Chairs",
          [("Color", COLORS), ("Size", SETS)], ["dining room", "solid wood", "high density", "metal legs"], (60, 300),
          ["Upholstered", "Modern", "Farmhouse", "Velvet", "Armless"]),
    _type("furniture", "coffee table", "coffee table", "Living Room Furniture › Tables › Coffee Tables",
          [("Color", COLORS)], ["mid century", "storage space", "tempered glass", "lift top"], (60, 350),
          ["Lift Top", "Round", "Rustic", "Glass", "Nesting"]),
    _type("furniture", "bed frame", "bed frame", "Bedroom Furniture › Beds, Frames & Bases › Bed Frames",
          [("Color", COLORS), ("Size", BED_SIZES)], ["box spring", "storage space", "metal frame", "noise free"],
          (100, 600), ["Platform", "Upholstered", "Canopy", "Metal", "Wooden"]),
    _type("furniture", "tv stand", "tv stand",
          "Living Room Furniture › TV & Media Furniture › Television Stands & Entertainment Centers",
          [("Color", COLORS), ("Size", DIMENSIONS)], ["storage space", "engineered wood", "cable management",
                                                      "led lights"], (60, 400),
          ["Entertainment Center", "Farmhouse", "Floating", "Corner", "Modern"]),
    # electronics
    _type("electronics", "headphones", "headphones",
          "Headphones, Earbuds & Accessories › Headphones › Over-Ear Headphones", [("Color", COLORS)],
          ["noise cancelling", "wireless bluetooth", "long battery life", "hands free", "stereo sound"], (20, 300),
          ["Over Ear", "On Ear", "Foldable", "Studio", "Gaming"], plural=True),
    _type("electronics", "bluetooth speaker", "bluetooth speaker",
          "Portable Audio & Video › Portable Speakers & Docks › Portable Bluetooth Speakers", [("Color", COLORS)],
          ["wireless bluetooth", "water resistant", "long battery life", "stereo sound", "easy carry"], (20, 150),
          ["Portable", "Waterproof", "Outdoor", "Mini", "Party"]),
    _type("electronics", "usb microphone", "usb microphone",
          "Computers & Accessories › Computer Accessories & Peripherals › Audio & Video Accessories"
          " › Microphones",
          [("Color", COLORS), ("Style", MIC_STYLES)], ["noise cancelling", "usb port", "cardioid pattern",
                                                       "mute button"], (25, 150),
          ["Condenser", "Streaming", "Podcast", "Gaming", "Recording"]),
    _type("electronics", "hdmi cable", "hdmi cable", "Television & Video › Accessories › Cables › HDMI Cables",
          [("Size", CABLE_LENGTHS)], ["gold plated", "4k ultra hd", "braided cable", "ethernet channel"], (6, 30),
          ["High Speed", "Braided", "8K", "Flat", "Right Angle"]),
    _type("electronics", "power bank", "power bank",
          "Cell Phones & Accessories › Accessories › Chargers & Power Adapters › Portable Power Banks",
          [("Color", COLORS), ("Capacity", CAPACITIES)], ["fast charging", "usb port", "easy carry", "led display"],
          (15, 70), ["Portable", "Slim", "Magnetic", "Solar", "Compact"]),
    _type("electronics", "wireless charger", "wireless charger",
          "Cell Phones & Accessories › Accessories › Chargers & Power Adapters › Wireless Chargers",
          [("Color", COLORS)], ["fast charging", "wireless charging", "non slip", "case friendly"], (10, 50),
          ["Pad", "Stand", "3 in 1", "Foldable", "Magnetic"]),
    _type("electronics", "security camera", "security camera",
          "Camera & Photo › Video Surveillance › Surveillance Cameras", [("Size", CAMERA_SETS)],
          ["night vision", "motion detection", "two way audio", "1080p hd", "weatherproof"], (25, 250),
          ["Outdoor", "Indoor", "Wireless", "Pan Tilt", "Doorbell"]),
    _type("electronics", "car subwoofer", "car subwoofer",
          "Car & Vehicle Electronics › Car Electronics › Car Audio › Subwoofers",
          [("Size", SUBWOOFER_SIZES)], ["high power", "power amplifier", "deep bass", "heavy duty"], (60, 400),
          ["Slim", "Powered", "Dual", "Shallow Mount", "Enclosed"]),
]

BRAND_HEADS = ["Lumi", "Aero", "Nova", "Verde", "Kind", "Pure", "Urban", "Zen", "Bright", "Oak", "Maple", "Luxe",
               "Terra", "Sol", "Vita", "Echo", "Apex", "Bloom", "Coast", "North", "Ivy", "Peak", "River", "Cedar"]
BRAND_TAILS = {
    "beauty": ["Botanics", "Beauty", "Labs", "Naturals", "Glow", "Skin"],
    "food": ["Farms", "Foods", "Roasters", "Kitchen", "Harvest", "Pantry"],
    "fashion": ["Wear", "Apparel", "Threads", "Outfitters", "Studio", "Athletics"],
    "furniture": ["Home", "Living", "Furnishings", "Woodworks", "Interiors", "Decor"],
    "electronics": ["Audio", "Tech", "Electronics", "Digital", "Labs", "Gear"],
}

# Text templates. Attributes are adjectives ("non slip") or noun phrases ("arch support"), so
# the sentences around them work for both; {is} agrees with the noun.
DESCRIPTION_OPENERS = [
    "{brand} makes {article}{noun} you will reach for every day.",
    "Meet the {brand} {noun}, designed with care and tested for quality.",
    "This {word} {noun} from {brand} {is} built to last.",
    "Upgrade to {article}{word} {noun} that does exactly what you need.",
    "The {word} {noun} by {brand} brings together comfort, quality and value.",
]
DESCRIPTION_SENTENCES = [
    "Key features: {a1} and {a2}.",
    "Customers often mention {a1} in their reviews.",
    "Designed with {a1} in mind, it is a great choice for home or travel.",
    "We focused on {a1} and {a2} so you do not have to compromise.",
    "Look for the {a1} label on every package.",
    "Every order is checked by hand before it ships.",
    "A thoughtful gift for family and friends.",
    "Backed by our friendly customer service team.",
]
BULLET_TEXTS = [
    "{A}: designed with {a} in mind, without compromise.",
    "{A} - our {noun} {is} made to deliver {a}, as promised.",
    "{A}: {a} you will notice from the first day.",
    "{A}: we built this {noun} around {a}.",
]
BULLET_EXTRAS = [
    "WHAT YOU GET: {noun} and our worry-free 30-day return policy.",
    "SATISFACTION GUARANTEED: contact us any time if you have questions about your {noun}.",
    "PERFECT GIFT: a great present for birthdays, holidays and special occasions.",
    "QUALITY CHECKED: every order is inspected before it leaves our warehouse.",
]
SYNTHETIC_TEMPLATES = [
    "i want {article}{attrs} {noun}",
    "i need {article}{attrs} {noun}",
    "i am looking for {article}{attrs} {noun}",
    "find me {article}{noun} with {attrs_and}",
    "i would like {article}{noun} that {is} {attrs_and}",
]
HUMAN_OPENERS = ["i'm looking for", "i need", "i want to buy", "looking for", "find me", "i am searching for",
                 "can you find me", "i want"]
HUMAN_BODIES = [
    "{article}{attrs} {noun}{opts}",
    "{article}{attrs} {noun}{opts}",
    "{article}{noun} that {is} {attrs_and}{opts}",
    "{article}{noun}{opts}. it should be {attrs_and}",
    "{article}{noun} with {attrs_and}{opts}",
]

_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_VOWELS = frozenset("aeiou")
_CENTS = (0.99, 0.99, 0.95, 0.49, 0.0, 0.97)
FILE_NAMES = ("items_shuffle.json", "items_ins_v2.json", "items_human_ins.json")


def _article(next_word: str, plural: bool) -> str:
    if plural:
        return ""
    if next_word.startswith(("usb", "uni", "use", "one")):
        return "a "
    if next_word.startswith(("hdmi", "hour")):
        return "an "
    return "an " if next_word[:1] in _VOWELS else "a "


def _join_and(parts: list[str]) -> str:
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _money(x: float) -> str:
    return f"${x:,.2f}"


class _Maker:
    """Draws products and their instructions from one seeded RNG (uniform draws through
    ``random()``, which keeps 100k products to a few seconds)."""

    def __init__(self, seed: int):
        self.rnd = random.Random(seed).random
        self.asins: set[str] = set()
        self.brands = {c: [h + t for h in BRAND_HEADS for t in tails] for c, tails in BRAND_TAILS.items()}

    def pick(self, seq):
        return seq[int(self.rnd() * len(seq))]

    def between(self, lo: int, hi: int) -> int:
        return lo + int(self.rnd() * (hi - lo + 1))

    def sample(self, seq, k: int) -> list:
        """k distinct elements, in draw order (a partial Fisher-Yates shuffle)."""
        pool, rnd, n = list(seq), self.rnd, len(seq)
        for i in range(k):
            j = i + int(rnd() * (n - i))
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:k]

    def weighted(self, values, cumulative):
        x = self.rnd() * cumulative[-1]
        for v, c in zip(values, cumulative):
            if x < c:
                return v
        return values[-1]

    def asin(self) -> str:
        rnd = self.rnd
        while True:
            asin = "B0" + "".join([_ALNUM[int(rnd() * 36)] for _ in range(8)])
            if asin not in self.asins:
                self.asins.add(asin)
                return asin

    def price(self, lo: float, hi: float) -> float:
        value = self.between(int(lo), int(hi)) + self.pick(_CENTS)
        return value if value > 0 else 0.99

    def product(self):
        rnd, pick, sample = self.rnd, self.pick, self.sample
        kind = pick(PRODUCT_TYPES)
        category, noun = kind["category"], kind["noun"]
        plural = kind["plural"] or kind["mass"]  # no article
        verb = "are" if kind["plural"] else "is"
        asin = self.asin()
        brand = pick(self.brands[category])
        word = pick(kind["words"])
        own = kind["attributes"]
        attributes = sample(own, self.between(1, min(3, len(own))))
        attributes += [a for a in sample(CATEGORY_ATTRIBUTES[category], self.between(0, 2)) if a not in attributes]
        attributes = sample(attributes, len(attributes))

        # option groups: 0-2 of the type's groups, each with 2-6 values
        groups = kind["groups"]
        n_groups = min(self.weighted((0, 1, 2), (20, 65, 100)), len(groups))
        options = {}
        for name, values in sample(groups, n_groups):
            chosen = sample(values, self.between(2, min(6, len(values))))
            if name != "Color":
                chosen.sort(key=values.index)  # sizes and the like in their natural order
            options[name] = chosen

        gender = ""
        path = kind["path"]
        if kind["gendered"]:
            gender = "Men" if rnd() < 0.5 else "Women"
            path = f"{gender} › {path}"
        product_category = f"{CATEGORY_ROOTS[category]} › {path}"

        # title: brand, descriptor, maybe attributes, the noun, a detail
        title_attrs = [a.title() for a in attributes[: self.between(0, 2)]]
        parts = [brand, f"{gender}'s", word] if gender else [brand, word]
        parts += title_attrs[:1]
        parts.append(kind["title"])
        title = " ".join(parts)
        tail = title_attrs[1:]
        if options and rnd() < 0.5:
            tail.append(next(iter(options.values()))[0])
        if tail:
            title += ", " + ", ".join(tail)

        # description and bullets mention the attributes
        opener = pick(DESCRIPTION_OPENERS)
        article = _article(noun if "{article}{noun}" in opener else word.lower(), plural)
        sentences = [opener.format(brand=brand, noun=noun, word=word.lower(), article=article, **{"is": verb})]
        for template in sample(DESCRIPTION_SENTENCES, 3):
            if len(attributes) > 1:
                a1, a2 = sample(attributes, 2)
            else:
                a1, a2 = attributes[0], pick(CATEGORY_ATTRIBUTES[category])
            if a1 == a2:
                a2 = "everyday comfort"
            sentences.append(template.format(a1=a1, a2=a2))
        description = " ".join(sentences)
        bullets = [pick(BULLET_TEXTS).format(A=a.upper(), a=a, noun=noun, **{"is": verb}) for a in attributes[:4]]
        bullets.append(pick(BULLET_EXTRAS).format(noun=noun))

        # pricing: one price, a range (mostly with options), rarely none
        lo, hi = kind["price"]
        r = rnd()
        if r < 0.01:
            pricing = ""
        elif options and r < 0.35:
            a, b = sorted((self.price(lo, hi), self.price(lo, hi)))
            if a == b:
                b = a + 5.0
            pricing = _money(a) + _money(b)
        else:
            pricing = _money(self.price(lo, hi))

        custom = None
        if options:
            custom = {
                name: [{"value": v, "image": (f"https://m.media-amazon.com/images/I/41{asin[2:7]}{i:02d}.jpg"
                                              if name == "Color" else None)} for i, v in enumerate(values)]
                for name, values in options.items()
            }
        raw = {
            "asin": asin,
            "name": title,
            "full_description": description,
            "small_description": bullets,
            "pricing": pricing,
            "images": [f"https://m.media-amazon.com/images/I/51{asin[2:]}L._SL1000_.jpg"],
            "product_category": product_category,
            "brand": brand,
            "customization_options": custom,
            "category": category,
            "query": kind["query"],
        }

        # synthetic instruction (items_ins_v2) naming 1-3 of the attributes
        ins_attrs = sample(attributes, self.between(1, min(3, len(attributes))))
        template = pick(SYNTHETIC_TEMPLATES)
        first = ins_attrs[0] if "{article}{attrs}" in template else noun
        synthetic = template.format(article=_article(first, plural), attrs=" ".join(ins_attrs), noun=noun,
                                    attrs_and=_join_and(ins_attrs), **{"is": verb})
        ins_v2 = {"attributes": attributes, "instruction": synthetic, "instruction_attributes": ins_attrs}

        # human instructions: 0-2, each asking for attributes and one value per option group
        n_human = self.weighted((0, 1, 2), (25, 80, 100))
        human = [self.human_instruction(asin, noun, plural, verb, attributes, options) for _ in range(n_human)]
        return raw, ins_v2, human

    def human_instruction(self, asin, noun, plural, verb, attributes, options) -> dict:
        rnd, pick = self.rnd, self.pick
        if rnd() < 0.03:  # a few name no attribute (the goal builder skips them)
            ins_attrs = []
        else:
            ins_attrs = self.sample(attributes, self.between(1, min(2, len(attributes))))
        names = list(options)
        if len(names) > 1 and rnd() < 0.1:
            names = [pick(names)]
        picked = {n: pick(options[n]) for n in names}
        values = {n: v.strip().replace("/", " | ").lower() for n, v in picked.items()}
        opts = "".join(pick(OPTION_PHRASES[n]).format(v=v.lower()) for n, v in picked.items())
        body = pick(HUMAN_BODIES) if ins_attrs else "{article}{noun}{opts}"
        first = ins_attrs[0] if body.startswith("{article}{attrs}") else noun
        text = pick(HUMAN_OPENERS) + " " + body.format(
            article=_article(first, plural), attrs=" ".join(ins_attrs), noun=noun,
            attrs_and=_join_and(ins_attrs) if ins_attrs else "", opts=opts, **{"is": verb})
        if rnd() < 0.2:
            text += "."
        return {
            "asin": asin,
            "instruction": text,
            "attributes": attributes,
            "options": [f"{n.lower()}: {v}" for n, v in values.items()],
            "instruction_attributes": ins_attrs,
            "instruction_options": list(values.values()),
            "assignment_id": f"{asin}{int(rnd() * 16 ** 6):06X}",
            "worker_id": f"W{int(rnd() * 10 ** 6):06d}",
        }


def generate_catalog(folder, num_products: int = 1000, seed: int = 0) -> dict[str, Path]:
    """Write items_shuffle.json, items_ins_v2.json and items_human_ins.json for ``num_products``
    generated products into ``folder``; return {"items_shuffle": path, "items_ins_v2": path,
    "items_human_ins": path}."""
    if isinstance(num_products, bool) or not isinstance(num_products, int) or num_products < 1:
        raise ValueError(f"num_products must be a positive integer, got {num_products!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name.removesuffix(".json"): folder / name for name in FILE_NAMES}
    tmp = {k: p.with_name(f".{p.name}.{os.getpid()}.tmp") for k, p in paths.items()}
    maker = _Maker(seed)
    encode = json.JSONEncoder(ensure_ascii=False).encode
    try:
        with open(tmp["items_shuffle"], "w", encoding="utf-8") as items, \
                open(tmp["items_ins_v2"], "w", encoding="utf-8") as ins, \
                open(tmp["items_human_ins"], "w", encoding="utf-8") as human:
            chunks = {"items": ["["], "ins": ["{"], "human": ["{"]}
            first_human = True
            for i in range(num_products):
                raw, ins_v2, human_list = maker.product()
                sep = "\n" if i == 0 else ",\n"
                asin = raw["asin"]
                chunks["items"].append(sep + encode(raw))
                chunks["ins"].append(f'{sep}"{asin}": {encode(ins_v2)}')
                if human_list:
                    chunks["human"].append(f'{"" if first_human else ","}\n"{asin}": {encode(human_list)}')
                    first_human = False
                if i % 2000 == 1999:
                    for f, key in ((items, "items"), (ins, "ins"), (human, "human")):
                        f.write("".join(chunks[key]))
                        chunks[key].clear()
            chunks["items"].append("\n]\n")
            chunks["ins"].append("\n}\n")
            chunks["human"].append("\n}\n")
            for f, key in ((items, "items"), (ins, "ins"), (human, "human")):
                f.write("".join(chunks[key]))
        # items_shuffle.json last: its presence marks a complete catalog
        for key in ("items_ins_v2", "items_human_ins", "items_shuffle"):
            os.replace(tmp[key], paths[key])
    finally:
        for p in tmp.values():
            if p.exists():
                p.unlink()
    return paths
