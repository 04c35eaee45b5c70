"""The catalog of the synthetic shop: twelve categories, ~540 items, consumables and journeys.

Everything here is fixed data (it does not depend on the world's seed), so item ids, titles
and journeys are the same in every shop world. :func:`build_catalog` turns the literal data
into flat arrays indexed by dense item id (``0`` is padding, items are ``1..n_items``).

* A :class:`ProductLine` is a product with one or more variants; each variant is one item
  titled ``"<name>, <variant>"`` (e.g. ``"Silicone Baking Mat, Set of 2"``). Lines with a
  ``cycle_days`` are consumables that shoppers re-buy about every that many days.
* A :class:`Journey` is an ordered chain of items inside one category: buying one step makes
  the next steps likely (massage gun -> whey protein -> lifting gloves -> shaker bottle ...).
  Journeys of a category are disjoint, so every item belongs to at most one journey.
* Popularity inside a category is Zipf-like: the item of popularity rank ``r`` (0-based) has
  weight ``1 / (r + 1) ** ZIPF_EXPONENT``; ranks are a fixed permutation of the category.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

ZIPF_EXPONENT = 1.0
"""Exponent of the within-category popularity law (1.0 = classic Zipf)."""

CATALOG_SEED = 20250101
"""Seed of the fixed popularity ranks; the catalog is the same for every world seed."""


@dataclass(frozen=True)
class ProductLine:
    """A product sold in one or more variants; ``cycle_days`` marks a consumable."""

    name: str
    variants: tuple[str, ...] = ()
    cycle_days: int | None = None

    def titles(self) -> list[str]:
        if not self.variants:
            return [self.name]
        return [f"{self.name}, {variant}" for variant in self.variants]


@dataclass(frozen=True)
class Journey:
    """An ordered chain of item titles inside one category."""

    name: str
    category: str
    steps: tuple[str, ...]


def _p(name: str, *variants: str, cycle: int | None = None) -> ProductLine:
    return ProductLine(name, tuple(variants), cycle)


PRODUCT_LINES: dict[str, tuple[ProductLine, ...]] = {
    "cat supplies": (
        _p("Honeycomb Cat Litter Mat", "Large", "Extra Large"),
        _p("Stainless Steel Cat Water Fountain", "2 L", "3 L"),
        _p("Sisal Cat Scratching Post", "32 in", "24 in"),
        _p("Freeze-Dried Chicken Cat Treats", "3 oz", "6 oz", cycle=28),
        _p("Feather Wand Cat Toy Set", "5 Pieces"),
        _p("Airline-Approved Soft Cat Carrier"),
        _p(
            "Clumping Cat Litter",
            "Unscented, 20 lb",
            "Lavender, 25 lb",
            "Multi-Cat, 40 lb",
            cycle=30,
        ),
        _p("Grain-Free Dry Cat Food", "Salmon, 6 lb", "Chicken, 12 lb", cycle=30),
        _p("Wet Cat Food Variety Pack", "24 Cans", "Pate, 12 Cans", cycle=21),
        _p("Cat Tree Tower", "52 in", "72 in"),
        _p("Self-Cleaning Litter Box"),
        _p("Covered Litter Box with Scoop"),
        _p("Catnip Mice Toys", "10 Pack"),
        _p("Interactive Laser Cat Toy"),
        _p("Cat Grooming Brush", "Deshedding", "Slicker"),
        _p("Cat Nail Clippers"),
        _p("Breakaway Cat Collar with Bell", "2 Pack"),
        _p("Ceramic Cat Food Bowls", "Set of 2"),
        _p("Cat Window Perch"),
        _p("Cat Dental Treats", "Chicken, 9 oz", cycle=30),
        _p("Cat Fountain Replacement Filters", "8 Pack", cycle=60),
        _p("Litter Box Deodorizer", "Baking Soda, 20 oz", cycle=30),
        _p("Heated Cat Bed", "Small", "Large"),
        _p("Collapsible Cat Tunnel", "3-Way"),
        _p("Hairball Control Gel", "4.4 oz", cycle=45),
        _p("Cat Calming Diffuser Refill", "30 Day", cycle=30),
        _p("Automatic Cat Feeder", "Dual Bowl", "WiFi, 4 L"),
        _p("Cardboard Cat Scratcher", "Lounge", "Pack of 3"),
        _p("Cat Litter Scoop", "Metal"),
        _p("Cat Harness and Leash Set"),
        _p("Cat Pheromone Spray", "60 ml", cycle=45),
        _p("Cat Grass Growing Kit", "3 Pack", cycle=21),
    ),
    "baking": (
        _p("Aluminum Half Sheet Pans", "Set of 2", "Quarter Size, Set of 3"),
        _p("Silicone Baking Mat", "Set of 2", "Macaron, Set of 2"),
        _p("Piping Bags and Tips Set", "24 Pieces", "52 Pieces"),
        _p("Rotating Cake Turntable", "12 in"),
        _p("Stand Mixer Bowl", "Stainless Steel, 5 qt", "Glass, 5 qt"),
        _p("Unbleached All-Purpose Flour", "5 lb", "10 lb", cycle=30),
        _p("Bread Flour", "5 lb", cycle=30),
        _p("Instant Dry Yeast", "1 lb", cycle=45),
        _p("Pure Vanilla Extract", "4 oz", cycle=60),
        _p("Parchment Paper Sheets", "100 Count", cycle=45),
        _p("Digital Kitchen Scale"),
        _p("Nonstick Loaf Pan", "9 x 5 in"),
        _p("Springform Cake Pan", "9 in", "Set of 3"),
        _p("Offset Spatula Set", "3 Pieces"),
        _p("Stainless Steel Bench Scraper"),
        _p("Bread Proofing Basket", "9 in Round", "10 in Oval"),
        _p("Wire Cooling Rack", "Set of 2"),
        _p("Muffin Pan", "12 Cup", "Mini, 24 Cup"),
        _p("French Rolling Pin", "Maple"),
        _p("Pastry Blender"),
        _p("Cake Decorating Gel Colors", "12 Colors", cycle=60),
        _p("Rainbow Sprinkles Assortment", "6 Pack", cycle=45),
        _p("Cupcake Liners", "300 Count", cycle=45),
        _p("Oven Thermometer"),
        _p("Silicone Spatula Set", "4 Pieces"),
        _p("Measuring Cups and Spoons Set"),
        _p("Sourdough Starter Jar"),
        _p("Bread Lame Scoring Tool"),
        _p("Fondant Smoother"),
        _p("Dutch Process Cocoa Powder", "1 lb", cycle=45),
        _p("Blanched Almond Flour", "2 lb", cycle=30),
        _p("Pie Dish", "Ceramic, 9 in", "Glass, 9.5 in"),
        _p("Glass Mixing Bowls", "Set of 3"),
        _p("Pie Weights", "Ceramic Beads"),
        _p("Cake Leveler"),
        _p("Danish Dough Whisk"),
        _p("Double-Acting Baking Powder", "8 oz", cycle=60),
    ),
    "fitness": (
        _p("Percussion Massage Gun"),
        _p("Whey Protein Powder", "Vanilla, 2 lb", "Chocolate, 5 lb", cycle=30),
        _p("Padded Lifting Gloves"),
        _p("BPA-Free Shaker Bottle", "28 oz"),
        _p("Resistance Bands Set", "5 Levels"),
        _p("Adjustable Dumbbells", "25 lb Pair", "50 lb Pair"),
        _p("High-Density Foam Roller", "18 in"),
        _p("Non-Slip Yoga Mat", "6 mm", "4 mm"),
        _p("Speed Jump Rope"),
        _p("Cast Iron Kettlebell", "16 kg", "24 kg"),
        _p("Leather Weightlifting Belt"),
        _p("Doorway Pull-Up Bar"),
        _p("Creatine Monohydrate", "300 g", cycle=45),
        _p("Protein Bars", "Peanut Butter, 12 Pack", "Chocolate Chip, 12 Pack", cycle=14),
        _p("Pre-Workout Powder", "Fruit Punch", cycle=30),
        _p("Electrolyte Drink Mix", "30 Sticks", cycle=21),
        _p("Ab Roller Wheel"),
        _p("Gym Duffel Bag"),
        _p("Fitness Tracker Watch"),
        _p("Lifting Wrist Wraps", "18 in"),
        _p("Adjustable Workout Bench"),
        _p("High-Waist Compression Leggings"),
        _p("Lifting Chalk", "8 oz", cycle=60),
        _p("Push-Up Bars"),
        _p("Foam Yoga Blocks", "Set of 2"),
        _p("Massage Ball Set"),
        _p("Ankle Weights", "2 lb Pair"),
        _p("Aerobic Step Platform"),
        _p("BCAA Powder", "Watermelon", cycle=30),
        _p("Knee Sleeves", "Pair"),
        _p("Battle Rope", "30 ft"),
        _p("Gym Towels", "3 Pack"),
        _p("Olympic Barbell Clips"),
        _p("Rubber Bumper Plates", "Pair of 10 lb"),
        _p("Yoga Strap"),
        _p("Hand Grip Strengthener"),
        _p("Posture Corrector"),
        _p("Stability Ball", "65 cm"),
        _p("Pilates Ring"),
        _p("Weighted Vest", "20 lb"),
    ),
    "coffee": (
        _p(
            "Whole Bean Coffee",
            "Medium Roast, 2 lb",
            "Dark Roast, 2 lb",
            "Espresso Blend, 1 lb",
            "Decaf, 1 lb",
            cycle=21,
        ),
        _p("Single-Origin Ethiopian Coffee Beans", "12 oz", cycle=21),
        _p("Conical Burr Coffee Grinder"),
        _p("Ceramic Pour-Over Coffee Dripper"),
        _p("Gooseneck Electric Kettle"),
        _p("Paper Coffee Filters", "Size 02, 100 Count", cycle=45),
        _p("French Press", "34 oz"),
        _p("Semi-Automatic Espresso Machine"),
        _p("Handheld Milk Frother"),
        _p("Cold Brew Coffee Maker", "1.5 qt"),
        _p("Insulated Travel Mug", "16 oz", "20 oz"),
        _p("Ceramic Coffee Mugs", "Set of 4"),
        _p("Coffee Scale with Timer"),
        _p("Espresso Tamper", "58 mm"),
        _p("Espresso Machine Descaling Solution", "2 Uses", cycle=90),
        _p("Oat Milk Barista Edition", "6 Pack", cycle=14),
        _p("Vanilla Coffee Syrup", "750 ml", cycle=30),
        _p("Portable Immersion Coffee Press"),
        _p("Stovetop Moka Pot", "6 Cup"),
        _p("Espresso Knock Box"),
        _p("Airtight Coffee Canister"),
        _p("Espresso Machine Cleaning Tablets", "100 Count", cycle=60),
        _p("Stainless Milk Frothing Pitcher", "12 oz"),
        _p("Glass Pour-Over Carafe", "6 Cup"),
        _p("Instant Espresso Powder", "2 oz", cycle=45),
        _p("Coffee Pods", "Variety, 40 Count", cycle=14),
        _p("Drip Coffee Maker", "12 Cup"),
        _p("Reusable Metal Coffee Filter"),
        _p("Espresso Cups", "Set of 6"),
        _p("Colombian Ground Coffee", "12 oz", cycle=21),
        _p("Coffee Bean Sampler", "6 Origins"),
        _p("Hand Coffee Grinder"),
        _p("Cold Brew Filter Bags", "50 Count", cycle=45),
        _p("Latte Art Pen"),
        _p("Coffee Cup Sleeves", "50 Pack"),
        _p("Chai Latte Concentrate", "32 oz", cycle=21),
        _p("Coffee Grinder Cleaning Pellets", "3 Uses", cycle=90),
        _p("Double-Wall Glass Coffee Mugs", "Set of 2"),
        _p("Wooden Pour-Over Stand"),
        _p("Ceremonial Matcha Powder", "1.7 oz", cycle=30),
        _p("Coffee Station Organizer"),
        _p("Espresso Dosing Funnel", "58 mm"),
    ),
    "gardening": (
        _p("Raised Garden Bed", "Galvanized, 8 x 4 ft", "Cedar, 4 x 4 ft"),
        _p("Organic Potting Soil", "1.5 cu ft", cycle=45),
        _p("Heirloom Tomato Seeds", "10 Varieties"),
        _p("Vegetable Seed Starter Kit"),
        _p("Seed Starting Trays", "10 Pack"),
        _p("LED Grow Light", "2 ft"),
        _p("Expandable Garden Hose", "50 ft", "100 ft"),
        _p("Hose Spray Nozzle"),
        _p("Bypass Pruning Shears"),
        _p("Garden Gloves", "3 Pairs"),
        _p("Garden Kneeling Pad"),
        _p("Compost Bin", "80 Gallon"),
        _p("All-Purpose Plant Food", "2 lb", cycle=30),
        _p("Organic Fertilizer Granules", "4 lb", cycle=60),
        _p("Tomato Cages", "6 Pack"),
        _p("Drip Irrigation Kit"),
        _p("Garden Trowel Set"),
        _p("Steel Wheelbarrow"),
        _p("Rain Barrel", "50 Gallon"),
        _p("Neem Oil Spray", "32 oz", cycle=45),
        _p("Cedar Mulch", "2 cu ft", cycle=60),
        _p("Hanging Bird Feeder"),
        _p("Wild Bird Seed", "20 lb", cycle=21),
        _p("Pedestal Bird Bath"),
        _p("Plant Labels", "100 Pack"),
        _p("Soil Moisture Meter"),
        _p("Folding Garden Cart"),
        _p("Herb Garden Window Box"),
        _p("Ceramic Flower Pots", "Set of 3"),
        _p("Houseplant Potting Mix", "8 qt", cycle=60),
        _p("Watering Can", "2 Gallon"),
        _p("Hori Hori Garden Knife"),
        _p("Leaf Rake"),
        _p("Garden Hose Reel"),
        _p("Slug and Snail Bait", "2 lb", cycle=45),
        _p("Solar Garden Lights", "8 Pack"),
        _p("Pruner Sharpening Tool"),
        _p("Cucumber Trellis"),
        _p("Stackable Strawberry Planter"),
        _p("Hot Pepper Seeds", "8 Varieties"),
        _p("Wildflower Seed Mix", "1 lb"),
        _p("Canvas Garden Apron"),
        _p("Worm Castings", "15 lb", cycle=60),
    ),
    "camping": (
        _p("Two-Person Backpacking Tent"),
        _p("Four-Person Dome Tent"),
        _p("Down Sleeping Bag", "20 F"),
        _p("Synthetic Sleeping Bag", "40 F"),
        _p("Inflatable Sleeping Pad"),
        _p("Backpacking Stove"),
        _p("Camping Fuel Canister", "8 oz", cycle=30),
        _p("Titanium Cookware Set"),
        _p("Headlamp", "400 Lumen"),
        _p("Trekking Poles", "Pair"),
        _p("Hiking Backpack", "55 L"),
        _p("Hiking Daypack", "24 L"),
        _p("Squeeze Water Filter"),
        _p("Gravity Water Filter", "4 L"),
        _p("Camping Hammock"),
        _p("Folding Camp Chair"),
        _p("Rechargeable LED Lantern"),
        _p("Freeze-Dried Camping Meals", "6 Pack", cycle=30),
        _p("Bear Canister"),
        _p("Insect Repellent", "4 oz", cycle=30),
        _p("Fire Starter Kit"),
        _p("Portable Power Bank", "20000 mAh"),
        _p("Outdoor First Aid Kit"),
        _p("Camping Cooler", "45 qt"),
        _p("Dry Bags", "Set of 3"),
        _p("Merino Wool Hiking Socks", "3 Pairs"),
        _p("Inflatable Camp Pillow"),
        _p("Paracord", "100 ft"),
        _p("Tent Footprint"),
        _p("Orienteering Compass"),
        _p("Biodegradable Camp Soap", "4 oz", cycle=60),
        _p("Camp Kitchen Utensil Set"),
        _p("Collapsible Water Container", "5 Gallon"),
        _p("Emergency Space Blankets", "4 Pack"),
        _p("Camp Axe"),
        _p("Waterproof Matches", "10 Boxes", cycle=60),
        _p("Hiking Gaiters"),
        _p("Sleeping Bag Liner"),
        _p("Camping Tarp", "10 x 10 ft"),
        _p("Folding Camp Table"),
        _p("Foldable Solar Charger Panel"),
        _p("Camping Coffee Percolator"),
        _p("Trail Mix Snack Packs", "24 Pack", cycle=21),
        _p("Aluminum Tent Stakes", "10 Pack"),
        _p("Hand Warmers", "40 Pairs", cycle=30),
    ),
    "baby": (
        _p("Newborn Diapers", "Size 1, 120 Count", "Size 2, 112 Count", cycle=10),
        _p("Sensitive Baby Wipes", "720 Count", cycle=14),
        _p("Convertible Car Seat"),
        _p("Lightweight Stroller"),
        _p("Video Baby Monitor"),
        _p("Muslin Swaddle Blankets", "4 Pack"),
        _p("Anti-Colic Baby Bottles", "4 Pack"),
        _p("Bottle Sterilizer and Dryer"),
        _p("Infant Formula", "35 oz", cycle=10),
        _p("Odor-Locking Diaper Pail"),
        _p("Diaper Rash Cream", "4 oz", cycle=30),
        _p("Ergonomic Baby Carrier"),
        _p("Crib Mattress"),
        _p("Contoured Changing Pad"),
        _p("Nursing Pillow"),
        _p("Orthodontic Pacifiers", "4 Pack"),
        _p("Teething Toys", "Set of 3"),
        _p("Convertible High Chair"),
        _p("Baby Food Maker"),
        _p("Spill-Proof Sippy Cups", "3 Pack"),
        _p("Baby Bathtub"),
        _p("Tear-Free Baby Shampoo", "16 oz", cycle=45),
        _p("Board Books for Babies", "Set of 6"),
        _p("Activity Gym Play Mat"),
        _p("Pressure-Mounted Baby Gate"),
        _p("Outlet Covers", "36 Pack"),
        _p("Silicone Bibs", "3 Pack"),
        _p("Breast Milk Storage Bags", "100 Count", cycle=21),
        _p("Diaper Backpack"),
        _p("White Noise Machine"),
        _p("Baby Nail Trimmer"),
        _p("Cabinet Safety Locks", "10 Pack"),
        _p("Stroller Organizer"),
        _p("Baby Sun Hat"),
        _p("Baby Food Storage Containers", "Set of 12"),
        _p("Nipple Cream", "1 oz", cycle=30),
        _p("Diaper Caddy Organizer"),
        _p("Baby Lotion", "13 oz", cycle=30),
        _p("Baby Laundry Detergent", "64 oz", cycle=30),
        _p("Wearable Sleep Sack"),
        _p("Digital Baby Thermometer"),
        _p("Baby Nasal Aspirator"),
        _p("Portable Changing Mat"),
        _p("Soft-Sole Baby Shoes"),
    ),
    "dog supplies": (
        _p("Nylon Dog Leash", "6 ft"),
        _p("Retractable Dog Leash", "16 ft"),
        _p("No-Pull Dog Harness", "Medium", "Large"),
        _p("Orthopedic Dog Bed", "Large"),
        _p("Grain-Free Dry Dog Food", "24 lb", "Puppy, 15 lb", cycle=30),
        _p("Dog Dental Chews", "30 Count", cycle=30),
        _p("Dog Poop Bags", "360 Count", cycle=45),
        _p("Poop Bag Dispenser"),
        _p("Rubber Chew Toys", "3 Pack"),
        _p("Automatic Tennis Ball Launcher"),
        _p("Wire Dog Crate", "36 in"),
        _p("Dog Training Treats", "1 lb", cycle=21),
        _p("Dog Training Clicker"),
        _p("Oatmeal Dog Shampoo", "16 oz", cycle=60),
        _p("Dog Nail Grinder"),
        _p("Collapsible Dog Bowl"),
        _p("Slow Feeder Dog Bowl"),
        _p("GPS Dog Collar"),
        _p("Dog Raincoat", "Medium"),
        _p("Dog Car Seat Cover"),
        _p("Flea and Tick Treatment", "3 Doses", cycle=30),
        _p("Plush Squeaky Toys", "5 Pack"),
        _p("Dog Puzzle Feeder"),
        _p("Dog Grooming Brush"),
        _p("Dog Seat Belt"),
        _p("Puppy Pee Pads", "100 Count", cycle=21),
        _p("Portable Dog Water Bottle"),
        _p("Enzyme Stain and Odor Remover", "32 oz", cycle=45),
        _p("Bully Sticks", "12 Inch, 10 Pack", cycle=21),
        _p("Dog Life Jacket", "Medium"),
        _p("Elevated Dog Feeder"),
        _p("Dog Toothbrush Kit"),
        _p("LED Dog Collar"),
        _p("Dog Paw Balm", "2 oz", cycle=60),
        _p("Dog Agility Training Set"),
        _p("Dog Cooling Mat", "Large"),
        _p("Dog Joint Supplement Chews", "90 Count", cycle=45),
        _p("Dog Ear Cleaner", "4 oz", cycle=60),
        _p("Rope Tug Toy"),
        _p("Dog Treat Pouch"),
        _p("Waterproof Dog Bed Cover"),
        _p("Freeze-Dried Beef Liver Dog Treats", "4 oz", cycle=21),
        _p("Knit Dog Sweater", "Small"),
    ),
    "home office": (
        _p("Ergonomic Mesh Office Chair"),
        _p("Electric Standing Desk", "48 in", "60 in"),
        _p("Monitor Arm", "Single", "Dual"),
        _p("Mechanical Keyboard", "Tenkeyless", "Full Size"),
        _p("Wireless Ergonomic Mouse"),
        _p("USB-C Docking Station"),
        _p("Noise-Cancelling Headphones"),
        _p("Webcam", "1080p", "4K"),
        _p("LED Desk Lamp"),
        _p("Printer Paper", "500 Sheets", cycle=60),
        _p("Gel Pens", "12 Pack", cycle=60),
        _p("Felt Desk Mat", "Large"),
        _p("Under-Desk Cable Management Tray"),
        _p("Aluminum Laptop Stand"),
        _p("Under-Desk Footrest"),
        _p("Magnetic Whiteboard", "36 x 24 in"),
        _p("Dry Erase Markers", "8 Pack", cycle=60),
        _p("Sticky Notes", "12 Pads", cycle=45),
        _p("Document Scanner"),
        _p("Wireless Charging Pad"),
        _p("Ring Light", "10 in"),
        _p("External SSD", "1 TB"),
        _p("Anti-Fatigue Standing Mat"),
        _p("Ink Cartridges", "Black, 2 Pack", cycle=60),
        _p("Inkjet Printer"),
        _p("Two-Drawer Filing Cabinet"),
        _p("Bamboo Desk Organizer"),
        _p("Blue Light Glasses"),
        _p("USB Condenser Microphone"),
        _p("Surge Protector Power Strip"),
        _p("Ergonomic Wrist Rest"),
        _p("Dual Monitor Privacy Screen"),
        _p("Label Maker"),
        _p("Label Tape", "2 Pack", cycle=60),
        _p("Paper Shredder"),
        _p("Desk Plant Pot"),
        _p("Lumbar Support Pillow"),
        _p("Dotted Notebooks", "A5, 2 Pack", cycle=60),
        _p("Monitor Shelf Riser"),
        _p("Laptop Sleeve", "14 in"),
        _p("Aluminum Headphone Stand"),
        _p("Whiteboard Eraser Cloths", "6 Pack"),
    ),
    "skincare": (
        _p("Gentle Foaming Cleanser", "8 oz", cycle=45),
        _p("Hyaluronic Acid Serum", "1 oz", cycle=45),
        _p("Mineral Sunscreen SPF 50", "3 oz", cycle=45),
        _p("Daily Moisturizer", "2 oz", cycle=45),
        _p("Night Cream", "1.7 oz", cycle=60),
        _p("Retinol Serum", "1 oz", cycle=60),
        _p("Vitamin C Serum", "1 oz", cycle=45),
        _p("Micellar Water", "13 oz", cycle=30),
        _p("Hydrating Sheet Masks", "10 Pack", cycle=30),
        _p("Jade Face Roller"),
        _p("Exfoliating Toner", "4 oz", cycle=45),
        _p("Lip Balm", "4 Pack", cycle=30),
        _p("Caffeine Eye Cream", "0.5 oz", cycle=60),
        _p("Kaolin Clay Face Mask", "4 oz", cycle=60),
        _p("Reusable Cotton Rounds", "16 Pack"),
        _p("Mulberry Silk Pillowcase"),
        _p("LED Light Therapy Mask"),
        _p("Facial Steamer"),
        _p("Gua Sha Stone"),
        _p("Cleansing Balm Makeup Remover", "3.4 oz", cycle=45),
        _p("Body Lotion", "16 oz", cycle=30),
        _p("Shea Butter Hand Cream", "3 Pack", cycle=30),
        _p("Niacinamide Serum", "1 oz", cycle=45),
        _p("Spa Headband", "2 Pack"),
        _p("Hydrocolloid Pimple Patches", "36 Count", cycle=30),
        _p("Silicone Facial Cleansing Brush"),
        _p("Travel Bottles", "Set of 4"),
        _p("Lighted Makeup Mirror"),
        _p("Ceramide Barrier Cream", "1.7 oz", cycle=45),
        _p("Tinted Sunscreen SPF 30", "1.7 oz", cycle=45),
        _p("Overnight Lip Mask", "0.7 oz", cycle=60),
        _p("Body Scrub", "10 oz", cycle=45),
        _p("Microfiber Face Towels", "6 Pack"),
        _p("Skincare Fridge"),
        _p("Rosewater Facial Mist", "4 oz", cycle=45),
        _p("Dermaplaning Tool", "6 Pack"),
        _p("Squalane Face Oil", "1 oz", cycle=60),
        _p("Peptide Serum", "1 oz", cycle=45),
        _p("Sunscreen Stick SPF 50", "0.5 oz", cycle=45),
        _p("Makeup Brush Cleaner", "6 oz", cycle=60),
        _p("Konjac Sponges", "3 Pack", cycle=30),
        _p("Hydrogel Eye Patches", "30 Pairs", cycle=30),
        _p("Aloe Vera Gel", "12 oz", cycle=60),
        _p("Acne Spot Treatment", "0.5 oz", cycle=45),
        _p("Microcurrent Face Massager"),
        _p("Sugar Lip Scrub", "0.5 oz", cycle=60),
    ),
    "photography": (
        _p("Mirrorless Camera Body"),
        _p("50mm f/1.8 Prime Lens"),
        _p("24-70mm Zoom Lens"),
        _p("70-200mm Telephoto Lens"),
        _p("16mm Wide-Angle Lens"),
        _p("Carbon Fiber Travel Tripod"),
        _p("SD Memory Card", "128 GB", "256 GB"),
        _p("Camera Battery", "2 Pack"),
        _p("Dual Battery Charger"),
        _p("Camera Sling Bag"),
        _p("Camera Backpack", "25 L"),
        _p("UV Lens Filter", "58 mm"),
        _p("Circular Polarizer Filter", "67 mm"),
        _p("ND Filter Set", "3 Pieces"),
        _p("Lens Cleaning Kit"),
        _p("Padded Camera Strap"),
        _p("Speedlight Flash"),
        _p("Softbox Lighting Kit"),
        _p("5-in-1 Collapsible Reflector"),
        _p("Backdrop Stand"),
        _p("Wireless Remote Shutter Release"),
        _p("Three-Axis Gimbal Stabilizer"),
        _p("Photo Printer"),
        _p("Glossy Photo Paper", "50 Sheets", cycle=60),
        _p("Lens Cleaning Wipes", "100 Count", cycle=60),
        _p("Camera Rain Cover"),
        _p("On-Camera Shotgun Microphone"),
        _p("USB-C Card Reader"),
        _p("Pen Tablet for Photo Editing"),
        _p("Sensor Cleaning Swabs", "12 Pack", cycle=90),
        _p("Lens Hood", "67 mm"),
        _p("L-Bracket Quick Release Plate"),
        _p("Color Calibration Card"),
        _p("Photo Album", "100 Pages"),
        _p("Film Camera Roll", "35mm, 3 Pack", cycle=30),
        _p("Camera Cleaning Blower"),
        _p("LED Video Light Panel"),
        _p("100mm Macro Lens"),
        _p("Camera Cage"),
        _p("Microfiber Lens Cloths", "5 Pack"),
        _p("Padded Lens Pouches", "Set of 4"),
        _p("Photo Frames", "8 x 10 in, 6 Pack"),
        _p("Handheld Light Meter"),
        _p("Variable ND Filter", "77 mm"),
        _p("Memory Card Case"),
    ),
    "cycling": (
        _p("Road Bike Helmet"),
        _p("Mountain Bike Helmet"),
        _p("USB Rechargeable Bike Lights Set"),
        _p("Bike U-Lock"),
        _p("Folding Bike Lock"),
        _p("Padded Cycling Shorts"),
        _p("Short-Sleeve Cycling Jersey"),
        _p("Clipless Pedals"),
        _p("Road Cycling Shoes"),
        _p("GPS Bike Computer"),
        _p("Floor Pump with Gauge"),
        _p("Mini Bike Pump"),
        _p("Bike Inner Tubes", "700x25c, 2 Pack", "29 in, 2 Pack", cycle=60),
        _p("Tire Patch Kit"),
        _p("Bike Chain Lubricant", "4 oz", cycle=45),
        _p("Bike Multi-Tool"),
        _p("Water Bottle Cage"),
        _p("Cycling Water Bottles", "2 Pack"),
        _p("Saddle Bag"),
        _p("Indoor Bike Trainer"),
        _p("Bike Repair Stand"),
        _p("Fingerless Cycling Gloves"),
        _p("Energy Gels", "24 Pack", cycle=14),
        _p("Bike Phone Mount"),
        _p("Road Bike Tires", "700x28c"),
        _p("Rear Bike Rack"),
        _p("Bike Panniers", "Pair"),
        _p("Chain Cleaner Tool"),
        _p("Bike Degreaser", "16 oz", cycle=60),
        _p("Cycling Sunglasses"),
        _p("Bike Bell"),
        _p("Trainer Sweat Guard"),
        _p("Heart Rate Chest Strap"),
        _p("Chamois Cream", "8 oz", cycle=30),
        _p("Reflective Ankle Bands", "2 Pack"),
        _p("Bike Fenders", "Pair"),
        _p("Cycling Cap"),
        _p("Tubeless Tire Sealant", "8 oz", cycle=90),
        _p("Coiled Bike Cable Lock"),
        _p("Packable Cycling Rain Jacket"),
        _p("Bike Stem Bag"),
        _p("Comfort Bike Saddle"),
        _p("Cycling Arm Warmers"),
        _p("Hydration Tablets", "4 Tubes", cycle=21),
        _p("Adjustable Bike Kickstand"),
    ),
}

JOURNEYS: tuple[Journey, ...] = (
    # cat supplies: the running example's six months follow the first journey.
    Journey(
        "new cat at home",
        "cat supplies",
        (
            "Honeycomb Cat Litter Mat, Large",
            "Stainless Steel Cat Water Fountain, 2 L",
            "Sisal Cat Scratching Post, 32 in",
            "Freeze-Dried Chicken Cat Treats, 3 oz",
            "Feather Wand Cat Toy Set, 5 Pieces",
            "Airline-Approved Soft Cat Carrier",
        ),
    ),
    Journey(
        "cat comfort",
        "cat supplies",
        (
            "Cat Tree Tower, 52 in",
            "Cat Window Perch",
            "Heated Cat Bed, Small",
            "Cat Calming Diffuser Refill, 30 Day",
        ),
    ),
    Journey(
        "cat grooming",
        "cat supplies",
        (
            "Cat Grooming Brush, Deshedding",
            "Cat Nail Clippers",
            "Cat Dental Treats, Chicken, 9 oz",
            "Hairball Control Gel, 4.4 oz",
        ),
    ),
    # baking: the running example's three months follow the first journey.
    Journey(
        "cake decorating",
        "baking",
        (
            "Aluminum Half Sheet Pans, Set of 2",
            "Silicone Baking Mat, Set of 2",
            "Piping Bags and Tips Set, 24 Pieces",
            "Rotating Cake Turntable, 12 in",
            "Stand Mixer Bowl, Stainless Steel, 5 qt",
            "Offset Spatula Set, 3 Pieces",
            "Cake Decorating Gel Colors, 12 Colors",
        ),
    ),
    Journey(
        "bread baking",
        "baking",
        (
            "Bread Flour, 5 lb",
            "Sourdough Starter Jar",
            "Bread Proofing Basket, 9 in Round",
            "Bread Lame Scoring Tool",
            "Stainless Steel Bench Scraper",
        ),
    ),
    Journey(
        "pie season",
        "baking",
        (
            "Pie Dish, Ceramic, 9 in",
            "Pastry Blender",
            "French Rolling Pin, Maple",
            "Pie Weights, Ceramic Beads",
        ),
    ),
    # fitness: the running example's last two weeks follow the first journey.
    Journey(
        "home gym",
        "fitness",
        (
            "Percussion Massage Gun",
            "Whey Protein Powder, Vanilla, 2 lb",
            "Padded Lifting Gloves",
            "BPA-Free Shaker Bottle, 28 oz",
            "Adjustable Dumbbells, 25 lb Pair",
            "Adjustable Workout Bench",
            "Creatine Monohydrate, 300 g",
        ),
    ),
    Journey(
        "yoga practice",
        "fitness",
        (
            "Non-Slip Yoga Mat, 6 mm",
            "Foam Yoga Blocks, Set of 2",
            "Yoga Strap",
            "High-Density Foam Roller, 18 in",
            "Massage Ball Set",
        ),
    ),
    Journey(
        "conditioning",
        "fitness",
        (
            "Speed Jump Rope",
            "Cast Iron Kettlebell, 16 kg",
            "Ab Roller Wheel",
            "Electrolyte Drink Mix, 30 Sticks",
            "Fitness Tracker Watch",
        ),
    ),
    Journey(
        "pour-over",
        "coffee",
        (
            "Conical Burr Coffee Grinder",
            "Gooseneck Electric Kettle",
            "Ceramic Pour-Over Coffee Dripper",
            "Paper Coffee Filters, Size 02, 100 Count",
            "Coffee Scale with Timer",
            "Single-Origin Ethiopian Coffee Beans, 12 oz",
        ),
    ),
    Journey(
        "home espresso",
        "coffee",
        (
            "Semi-Automatic Espresso Machine",
            "Espresso Tamper, 58 mm",
            "Stainless Milk Frothing Pitcher, 12 oz",
            "Espresso Knock Box",
            "Espresso Machine Cleaning Tablets, 100 Count",
        ),
    ),
    Journey(
        "cold brew",
        "coffee",
        (
            "Cold Brew Coffee Maker, 1.5 qt",
            "Cold Brew Filter Bags, 50 Count",
            "Whole Bean Coffee, Dark Roast, 2 lb",
            "Insulated Travel Mug, 20 oz",
        ),
    ),
    Journey(
        "vegetable patch",
        "gardening",
        (
            "Raised Garden Bed, Galvanized, 8 x 4 ft",
            "Organic Potting Soil, 1.5 cu ft",
            "Heirloom Tomato Seeds, 10 Varieties",
            "Tomato Cages, 6 Pack",
            "Drip Irrigation Kit",
        ),
    ),
    Journey(
        "seed starting",
        "gardening",
        (
            "Vegetable Seed Starter Kit",
            "Seed Starting Trays, 10 Pack",
            "LED Grow Light, 2 ft",
            "Plant Labels, 100 Pack",
            "Soil Moisture Meter",
        ),
    ),
    Journey(
        "bird garden",
        "gardening",
        (
            "Hanging Bird Feeder",
            "Wild Bird Seed, 20 lb",
            "Pedestal Bird Bath",
            "Solar Garden Lights, 8 Pack",
        ),
    ),
    Journey(
        "backpacking",
        "camping",
        (
            "Hiking Backpack, 55 L",
            "Two-Person Backpacking Tent",
            "Down Sleeping Bag, 20 F",
            "Inflatable Sleeping Pad",
            "Backpacking Stove",
            "Camping Fuel Canister, 8 oz",
        ),
    ),
    Journey(
        "car camping",
        "camping",
        (
            "Four-Person Dome Tent",
            "Folding Camp Chair",
            "Camping Cooler, 45 qt",
            "Rechargeable LED Lantern",
            "Fire Starter Kit",
        ),
    ),
    Journey(
        "trail safety",
        "camping",
        (
            "Headlamp, 400 Lumen",
            "Outdoor First Aid Kit",
            "Squeeze Water Filter",
            "Orienteering Compass",
        ),
    ),
    Journey(
        "newborn",
        "baby",
        (
            "Muslin Swaddle Blankets, 4 Pack",
            "Anti-Colic Baby Bottles, 4 Pack",
            "Bottle Sterilizer and Dryer",
            "Video Baby Monitor",
            "White Noise Machine",
        ),
    ),
    Journey(
        "out and about",
        "baby",
        (
            "Convertible Car Seat",
            "Lightweight Stroller",
            "Stroller Organizer",
            "Diaper Backpack",
            "Ergonomic Baby Carrier",
        ),
    ),
    Journey(
        "starting solids",
        "baby",
        (
            "Convertible High Chair",
            "Baby Food Maker",
            "Silicone Bibs, 3 Pack",
            "Spill-Proof Sippy Cups, 3 Pack",
            "Baby Food Storage Containers, Set of 12",
        ),
    ),
    Journey(
        "new puppy",
        "dog supplies",
        (
            "Wire Dog Crate, 36 in",
            "Puppy Pee Pads, 100 Count",
            "Dog Training Treats, 1 lb",
            "Dog Training Clicker",
            "Rubber Chew Toys, 3 Pack",
        ),
    ),
    Journey(
        "daily walks",
        "dog supplies",
        (
            "No-Pull Dog Harness, Medium",
            "Nylon Dog Leash, 6 ft",
            "Dog Poop Bags, 360 Count",
            "Poop Bag Dispenser",
            "Portable Dog Water Bottle",
        ),
    ),
    Journey(
        "road trip with the dog",
        "dog supplies",
        (
            "Dog Car Seat Cover",
            "Dog Seat Belt",
            "Collapsible Dog Bowl",
            "Dog Raincoat, Medium",
        ),
    ),
    Journey(
        "desk setup",
        "home office",
        (
            "Electric Standing Desk, 48 in",
            "Anti-Fatigue Standing Mat",
            "Monitor Arm, Single",
            "Under-Desk Cable Management Tray",
            "Felt Desk Mat, Large",
        ),
    ),
    Journey(
        "video calls",
        "home office",
        (
            "Webcam, 1080p",
            "Ring Light, 10 in",
            "USB Condenser Microphone",
            "Noise-Cancelling Headphones",
        ),
    ),
    Journey(
        "paperwork",
        "home office",
        (
            "Inkjet Printer",
            "Ink Cartridges, Black, 2 Pack",
            "Printer Paper, 500 Sheets",
            "Two-Drawer Filing Cabinet",
            "Label Maker",
        ),
    ),
    Journey(
        "daily routine",
        "skincare",
        (
            "Gentle Foaming Cleanser, 8 oz",
            "Exfoliating Toner, 4 oz",
            "Hyaluronic Acid Serum, 1 oz",
            "Daily Moisturizer, 2 oz",
            "Mineral Sunscreen SPF 50, 3 oz",
        ),
    ),
    Journey(
        "spa night",
        "skincare",
        (
            "Facial Steamer",
            "Kaolin Clay Face Mask, 4 oz",
            "Hydrating Sheet Masks, 10 Pack",
            "Gua Sha Stone",
        ),
    ),
    Journey(
        "anti-aging",
        "skincare",
        (
            "Vitamin C Serum, 1 oz",
            "Retinol Serum, 1 oz",
            "Caffeine Eye Cream, 0.5 oz",
            "Night Cream, 1.7 oz",
            "Mulberry Silk Pillowcase",
        ),
    ),
    Journey(
        "new camera",
        "photography",
        (
            "Mirrorless Camera Body",
            "SD Memory Card, 128 GB",
            "Camera Battery, 2 Pack",
            "Camera Sling Bag",
            "50mm f/1.8 Prime Lens",
        ),
    ),
    Journey(
        "landscapes",
        "photography",
        (
            "Carbon Fiber Travel Tripod",
            "Circular Polarizer Filter, 67 mm",
            "ND Filter Set, 3 Pieces",
            "Wireless Remote Shutter Release",
            "16mm Wide-Angle Lens",
        ),
    ),
    Journey(
        "home studio",
        "photography",
        (
            "Softbox Lighting Kit",
            "Backdrop Stand",
            "5-in-1 Collapsible Reflector",
            "Speedlight Flash",
        ),
    ),
    Journey(
        "commuting",
        "cycling",
        (
            "Bike U-Lock",
            "USB Rechargeable Bike Lights Set",
            "Rear Bike Rack",
            "Bike Panniers, Pair",
            "Bike Fenders, Pair",
        ),
    ),
    Journey(
        "road riding",
        "cycling",
        (
            "Road Bike Helmet",
            "Padded Cycling Shorts",
            "Short-Sleeve Cycling Jersey",
            "Clipless Pedals",
            "Road Cycling Shoes",
            "GPS Bike Computer",
        ),
    ),
    Journey(
        "bike maintenance",
        "cycling",
        (
            "Floor Pump with Gauge",
            "Tire Patch Kit",
            "Bike Chain Lubricant, 4 oz",
            "Bike Multi-Tool",
            "Bike Repair Stand",
        ),
    ),
)

CATEGORY_WEIGHTS: dict[str, float] = {
    "cat supplies": 1.3,
    "dog supplies": 1.3,
    "baking": 1.0,
    "fitness": 1.1,
    "coffee": 1.2,
    "gardening": 0.9,
    "camping": 0.8,
    "baby": 0.8,
    "home office": 1.0,
    "skincare": 1.0,
    "photography": 0.7,
    "cycling": 0.8,
}
"""How often a category is chosen for an interest phase or a noise purchase (relative)."""

KEEP_PROBABILITY: dict[str, float] = {
    "cat supplies": 0.92,
    "dog supplies": 0.92,
    "baby": 0.85,
    "coffee": 0.85,
}
"""Chance that a shopper keeps a consumable of this category on its re-buy cycle after a
purchase (pets and babies keep eating whatever the shopper's hobbies are)."""

DEFAULT_KEEP_PROBABILITY = 0.5
"""Keep probability of consumables in categories not listed in :data:`KEEP_PROBABILITY`."""

JOURNEY_START_DECAY = 0.5
"""The ``k``-th journey of a category (0-based) is started with weight ``1 / (1 + decay * k)``."""


@dataclass(frozen=True)
class ShopCatalog:
    """The catalog as arrays indexed by dense item id (index 0 is padding)."""

    titles: np.ndarray  # [n_items + 1] str
    categories: np.ndarray  # [n_items + 1] str
    category_names: tuple[str, ...]
    category_of: np.ndarray  # [n_items + 1] int64, -1 at padding
    cycle_days: np.ndarray  # [n_items + 1] float64, 0 for durable goods
    keep_probability: np.ndarray  # [n_items + 1] float64, 0 for durable goods
    popularity: np.ndarray  # [n_items + 1] float64, Zipf weight, sums to 1 inside each category
    noise_weights: np.ndarray  # [n_items + 1] float64, category weight x popularity, sums to 1
    category_items: tuple[np.ndarray, ...]  # per category: its item ids [n_c]
    category_weights: np.ndarray  # [n_categories] float64, sums to 1
    journeys: tuple[Journey, ...]
    journey_items: tuple[np.ndarray, ...]  # per journey: item ids in step order
    journey_category: np.ndarray  # [n_journeys] int64
    journey_start_weight: np.ndarray  # [n_journeys] float64
    item_journey: np.ndarray  # [n_items + 1] int64, -1 when the item is in no journey
    item_step: np.ndarray  # [n_items + 1] int64, its 0-based step in that journey

    @property
    def n_items(self) -> int:
        return len(self.titles) - 1

    @property
    def n_categories(self) -> int:
        return len(self.category_names)

    def is_consumable(self, item: int) -> bool:
        return bool(self.cycle_days[item] > 0)

    def item_id(self, title: str) -> int:
        """Dense id of an exact title; raises KeyError naming the title."""
        hits = np.flatnonzero(self.titles == title)
        if len(hits) == 0 or hits[0] == 0:
            raise KeyError(f"no item titled {title!r} in the shop catalog")
        return int(hits[0])

    def category_index(self, name: str) -> int:
        if name not in self.category_names:
            raise KeyError(
                f"unknown shop category {name!r}; categories: {', '.join(self.category_names)}"
            )
        return self.category_names.index(name)

    def journeys_of(self, category: int) -> list[int]:
        """Indices of the journeys of one category, in start-weight order."""
        return [int(j) for j in np.flatnonzero(self.journey_category == category)]


@lru_cache(maxsize=1)
def build_catalog() -> ShopCatalog:
    """Flatten :data:`PRODUCT_LINES` and :data:`JOURNEYS` into a :class:`ShopCatalog`."""
    titles, categories, cycles = ["<pad>"], ["<pad>"], [0.0]
    for category, lines in PRODUCT_LINES.items():
        for line in lines:
            for title in line.titles():
                titles.append(title)
                categories.append(category)
                cycles.append(float(line.cycle_days or 0))
    _check_unique(titles)
    category_names = tuple(PRODUCT_LINES)
    category_of = np.array([-1] + [category_names.index(c) for c in categories[1:]], dtype=np.int64)
    cycle_days = np.array(cycles, dtype=np.float64)
    keep = np.array(
        [0.0] + [KEEP_PROBABILITY.get(c, DEFAULT_KEEP_PROBABILITY) for c in categories[1:]],
        dtype=np.float64,
    )
    keep[cycle_days == 0] = 0.0
    category_items = tuple(
        np.flatnonzero(category_of == c).astype(np.int64) for c in range(len(category_names))
    )
    weights = np.array([CATEGORY_WEIGHTS[c] for c in category_names], dtype=np.float64)
    title_index = {title: i for i, title in enumerate(titles)}
    journey_items, item_journey, item_step = _journey_arrays(title_index, len(titles))
    journey_category = np.array(
        [category_names.index(j.category) for j in JOURNEYS], dtype=np.int64
    )
    popularity = _zipf_popularity(category_items, len(titles))
    noise_weights = np.zeros(len(titles), dtype=np.float64)
    noise_weights[1:] = (weights / weights.sum())[category_of[1:]] * popularity[1:]
    return ShopCatalog(
        titles=np.array(titles),
        categories=np.array(categories),
        category_names=category_names,
        category_of=category_of,
        cycle_days=cycle_days,
        keep_probability=keep,
        popularity=popularity,
        noise_weights=noise_weights / noise_weights.sum(),
        category_items=category_items,
        category_weights=weights / weights.sum(),
        journeys=JOURNEYS,
        journey_items=journey_items,
        journey_category=journey_category,
        journey_start_weight=_journey_start_weights(journey_category),
        item_journey=item_journey,
        item_step=item_step,
    )


def _check_unique(titles: list[str]) -> None:
    seen: set[str] = set()
    for title in titles:
        if title in seen:
            raise ValueError(f"shop catalog: duplicate title {title!r}")
        seen.add(title)


def _journey_arrays(
    title_index: dict[str, int], n_rows: int
) -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray]:
    item_journey = np.full(n_rows, -1, dtype=np.int64)
    item_step = np.full(n_rows, -1, dtype=np.int64)
    journey_items = []
    for j, journey in enumerate(JOURNEYS):
        ids = []
        for step, title in enumerate(journey.steps):
            if title not in title_index:
                raise ValueError(
                    f"shop catalog: journey {journey.name!r} names unknown item {title!r}"
                )
            item = title_index[title]
            if item_journey[item] >= 0:
                raise ValueError(f"shop catalog: item {title!r} is in two journeys")
            item_journey[item], item_step[item] = j, step
            ids.append(item)
        journey_items.append(np.array(ids, dtype=np.int64))
    return tuple(journey_items), item_journey, item_step


def _zipf_popularity(category_items: tuple[np.ndarray, ...], n_rows: int) -> np.ndarray:
    """Zipf weights ``1 / (rank + 1) ** s`` over a fixed random ranking of each category."""
    rng = np.random.default_rng(CATALOG_SEED)
    popularity = np.zeros(n_rows, dtype=np.float64)
    for items in category_items:
        ranks = rng.permutation(len(items))
        weights = 1.0 / (ranks + 1.0) ** ZIPF_EXPONENT
        popularity[items] = weights / weights.sum()
    return popularity


def _journey_start_weights(journey_category: np.ndarray) -> np.ndarray:
    weights = np.zeros(len(journey_category), dtype=np.float64)
    for category in np.unique(journey_category):
        members = np.flatnonzero(journey_category == category)
        weights[members] = 1.0 / (1.0 + JOURNEY_START_DECAY * np.arange(len(members)))
    return weights
