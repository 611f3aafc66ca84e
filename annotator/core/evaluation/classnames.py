"""Class names and ids of the five benchmark datasets (public facts of each release).

Each dataset is a tuple of ``(dataset_id, name)`` in dataset order, with the name as the
dataset itself spells it. Two spellings derive from it:

* ``reference_name``: the released PnP-OVSS code's one-word form (spec 3.2: spaces and
  hyphens removed, "trafficlight", "buildingother"; VOC/PC keep their own one-word
  names such as "pottedplant", "tvmonitor"). The paper's numbers were measured with
  these captions, so the reference protocol uses them.
* ``natural_name``: words with spaces, for the standard protocol (the engine accepts
  multi-word names).
"""

from __future__ import annotations

import re

# VOC2012: ids 1-20 (0 = background, 255 = void). The released code writes "table"
# for diningtable (spec 3.2); the natural form keeps the dataset's meaning.
VOC = tuple(enumerate((
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "table", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
), start=1))

# Pascal Context 59 (mmseg order): ids 1-59 (0 = background).
PASCAL_CONTEXT59 = tuple(enumerate((
    "aeroplane", "bag", "bed", "bedclothes", "bench", "bicycle", "bird", "boat", "book",
    "bottle", "building", "bus", "cabinet", "car", "cat", "ceiling", "chair", "cloth",
    "computer", "cow", "cup", "curtain", "dog", "door", "fence", "floor", "flower", "food",
    "grass", "ground", "horse", "keyboard", "light", "motorbike", "mountain", "mouse",
    "person", "plate", "platform", "pottedplant", "road", "rock", "sheep", "shelves",
    "sidewalk", "sign", "sky", "snow", "sofa", "table", "track", "train", "tree", "truck",
    "tvmonitor", "wall", "water", "window", "wood",
), start=1))

# ADE20K SceneParsing 150 (ADEChallengeData2016, mmseg names): ids 1-150 (0 = other).
ADE20K = tuple(enumerate((
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane",
    "grass", "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant",
    "curtain", "chair", "car", "water", "painting", "sofa", "shelf", "house", "sea",
    "mirror", "rug", "field", "armchair", "seat", "fence", "desk", "rock", "wardrobe",
    "lamp", "bathtub", "railing", "cushion", "base", "box", "column", "signboard",
    "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace",
    "refrigerator", "grandstand", "path", "stairs", "runway", "case", "pool table",
    "pillow", "screen door", "stairway", "river", "bridge", "bookcase", "blind",
    "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove",
    "palm", "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine",
    "hovel", "bus", "towel", "light", "truck", "tower", "chandelier", "awning",
    "streetlight", "booth", "television receiver", "airplane", "dirt track", "apparel",
    "pole", "land", "bannister", "escalator", "ottoman", "bottle", "buffet", "poster",
    "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything",
    "swimming pool", "stool", "barrel", "basket", "waterfall", "tent", "bag", "minibike",
    "cradle", "oven", "ball", "food", "step", "tank", "trade name", "microwave", "pot",
    "animal", "bicycle", "lake", "dishwasher", "screen", "blanket", "sculpture", "hood",
    "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen",
    "plate", "monitor", "bulletin board", "shower", "radiator", "glass", "clock", "flag",
), start=1))

# The released code's ADE20K list (Load_datasets.py) differs from the dataset's names
# in these 12 entries; its captions, hence the paper's ADE20K number, used them. Note
# that it calls both 59 (screen door) and 131 "screen".
ADE20K_RELEASED = {
    14: "ground", 43: "pillar", 57: "billiard table", 59: "screen", 87: "sunshade", 109: "toy",
    117: "motorbike", 122: "stair", 124: "marque", 137: "trafficlight", 139: "trash can",
    145: "bulletinboard",
}

# COCO 2017 thing categories: the 80 used ids of 1-90 (instances_val2017.json).
COCO_THINGS = (
    (1, "person"), (2, "bicycle"), (3, "car"), (4, "motorcycle"), (5, "airplane"),
    (6, "bus"), (7, "train"), (8, "truck"), (9, "boat"), (10, "traffic light"),
    (11, "fire hydrant"), (13, "stop sign"), (14, "parking meter"), (15, "bench"),
    (16, "bird"), (17, "cat"), (18, "dog"), (19, "horse"), (20, "sheep"), (21, "cow"),
    (22, "elephant"), (23, "bear"), (24, "zebra"), (25, "giraffe"), (27, "backpack"),
    (28, "umbrella"), (31, "handbag"), (32, "tie"), (33, "suitcase"), (34, "frisbee"),
    (35, "skis"), (36, "snowboard"), (37, "sports ball"), (38, "kite"),
    (39, "baseball bat"), (40, "baseball glove"), (41, "skateboard"), (42, "surfboard"),
    (43, "tennis racket"), (44, "bottle"), (46, "wine glass"), (47, "cup"), (48, "fork"),
    (49, "knife"), (50, "spoon"), (51, "bowl"), (52, "banana"), (53, "apple"),
    (54, "sandwich"), (55, "orange"), (56, "broccoli"), (57, "carrot"), (58, "hot dog"),
    (59, "pizza"), (60, "donut"), (61, "cake"), (62, "chair"), (63, "couch"),
    (64, "potted plant"), (65, "bed"), (67, "dining table"), (70, "toilet"), (72, "tv"),
    (73, "laptop"), (74, "mouse"), (75, "remote"), (76, "keyboard"), (77, "cell phone"),
    (78, "microwave"), (79, "oven"), (80, "toaster"), (81, "sink"), (82, "refrigerator"),
    (84, "book"), (85, "clock"), (86, "vase"), (87, "scissors"), (88, "teddy bear"),
    (89, "hair drier"), (90, "toothbrush"),
)

# COCO-Stuff stuff categories: ids 92-182 (stuff_val2017.json; 183 "other" is not a class).
COCO_STUFF_ONLY = tuple(enumerate((
    "banner", "blanket", "branch", "bridge", "building-other", "bush", "cabinet", "cage",
    "cardboard", "carpet", "ceiling-other", "ceiling-tile", "cloth", "clothes", "clouds",
    "counter", "cupboard", "curtain", "desk-stuff", "dirt", "door-stuff", "fence",
    "floor-marble", "floor-other", "floor-stone", "floor-tile", "floor-wood", "flower",
    "fog", "food-other", "fruit", "furniture-other", "grass", "gravel", "ground-other",
    "hill", "house", "leaves", "light", "mat", "metal", "mirror-stuff", "moss", "mountain",
    "mud", "napkin", "net", "paper", "pavement", "pillow", "plant-other", "plastic",
    "platform", "playingfield", "railing", "railroad", "river", "road", "rock", "roof",
    "rug", "salad", "sand", "sea", "shelf", "sky-other", "skyscraper", "snow",
    "solid-other", "stairs", "stone", "straw", "structural-other", "table", "tent",
    "textile-other", "towel", "tree", "vegetable", "wall-brick", "wall-concrete",
    "wall-other", "wall-panel", "wall-stone", "wall-tile", "wall-wood", "water-other",
    "waterdrops", "window-blind", "window-other", "wood",
), start=92))

# COCO-Stuff 164k: 80 things + 91 stuff = 171 classes, ascending id (= mmseg train id order).
COCO_STUFF = COCO_THINGS + COCO_STUFF_ONLY


def reference_name(name: str) -> str:
    """The released code's one-word spelling: spaces and hyphens removed (spec 3.2)."""
    return re.sub(r"[\s\-]+", "", name)


def natural_name(name: str) -> str:
    """Words with spaces: "tvmonitor" -> "tv monitor", "wall-brick" -> "wall brick".

    COCO-Stuff's "-other"/"-stuff" suffixes only disambiguate within the dataset
    ("building-other" is what a person calls a building), so they are dropped.
    """
    name = _NATURAL.get(name, name)
    name = re.sub(r"-(other|stuff)$", "", name)
    return name.replace("-", " ")


# One-word dataset names that read better as two words in a caption.
_NATURAL = {
    "pottedplant": "potted plant",
    "tvmonitor": "tv monitor",
    "bedclothes": "bed clothes",
    "playingfield": "playing field",
    "waterdrops": "water drops",
}
