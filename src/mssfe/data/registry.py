"""The standard hyperspectral scenes: where their files come from and what they contain.

Pure metadata, no I/O. Sizes and SHA-256 come from ``shared/datasets/MANIFEST.md`` (verified
copies); ``None`` means no verified identity is recorded, so the file is never downloaded
automatically (a user may still place it by hand). Label ids are the ones in the files;
``class_ids`` maps them to contiguous indices 1..K in the order given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mssfe.errors import ConfigError
from mssfe.utils.suggest import did_you_mean

GIC = "https://www.ehu.eus/ccwintco/uploads"
GIC_PAGE = "https://www.ehu.eus/ccwintco/index.php/Hyperspectral_Remote_Sensing_Scenes"

# Colour-blind-aware qualitative palette (Okabe-Ito, then Tol's muted and light sets), used
# where a scene has no official colours. 23 distinct colours, fixed order.
PALETTE: tuple[str, ...] = (
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
    "#000000",
    "#332288",
    "#88CCEE",
    "#44AA99",
    "#117733",
    "#999933",
    "#DDCC77",
    "#CC6677",
    "#882255",
    "#AA4499",
    "#77AADD",
    "#EE8866",
    "#BBCC33",
    "#AAAA00",
    "#FFAABB",
    "#DDDDDD",
)


@dataclass(frozen=True)
class RemoteFile:
    """One file of a scene: its name, the variable inside it, and its verified identity."""

    name: str
    url: str | None
    variable: str | None = None
    size: int | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class SceneInfo:
    """What the registry knows about a scene before any file is read."""

    name: str
    sensor: str
    shape: tuple[int, int, int]  # (rows, cols, bands)
    class_names: tuple[str, ...]
    cube: RemoteFile | None
    labels: RemoteFile
    class_ids: tuple[int, ...] = ()  # label values in the file, one per class; default 1..K
    n_labelled: int | None = None
    rgb_bands: tuple[int, int, int] = (0, 0, 0)  # 0-based band indices for a false-colour view
    colours: tuple[str, ...] = ()
    citation: str = ""
    embedded: bool = False  # files ship inside the package
    simulated_from: str | None = None  # layout scene of a simulated scene
    notes: str = ""
    aliases: tuple[str, ...] = field(default=())

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def label_values(self) -> tuple[int, ...]:
        return self.class_ids or tuple(range(1, self.n_classes + 1))

    @property
    def class_colours(self) -> tuple[str, ...]:
        return self.colours or PALETTE[: self.n_classes]


IP_CLASSES = (
    "Alfalfa",
    "Corn-notill",
    "Corn-mintill",
    "Corn",
    "Grass-pasture",
    "Grass-trees",
    "Grass-pasture-mowed",
    "Hay-windrowed",
    "Oats",
    "Soybean-notill",
    "Soybean-mintill",
    "Soybean-clean",
    "Wheat",
    "Woods",
    "Buildings-Grass-Trees-Drives",
    "Stone-Steel-Towers",
)
PU_CLASSES = (
    "Asphalt",
    "Meadows",
    "Gravel",
    "Trees",
    "Painted metal sheets",
    "Bare Soil",
    "Bitumen",
    "Self-Blocking Bricks",
    "Shadows",
)
SALINAS_CLASSES = (
    "Brocoli_green_weeds_1",
    "Brocoli_green_weeds_2",
    "Fallow",
    "Fallow_rough_plow",
    "Fallow_smooth",
    "Stubble",
    "Celery",
    "Grapes_untrained",
    "Soil_vinyard_develop",
    "Corn_senesced_green_weeds",
    "Lettuce_romaine_4wk",
    "Lettuce_romaine_5wk",
    "Lettuce_romaine_6wk",
    "Lettuce_romaine_7wk",
    "Vinyard_untrained",
    "Vinyard_vertical_trellis",
)
SALINAS_A_IDS = (1, 10, 11, 12, 13, 14)

_AVIRIS_CITE = "AVIRIS (NASA JPL); .mat packaging by GIC, UPV/EHU, " + GIC_PAGE

SCENES: tuple[SceneInfo, ...] = (
    SceneInfo(
        name="IndianPines",
        sensor="AVIRIS",
        shape=(145, 145, 200),
        class_names=IP_CLASSES,
        n_labelled=10249,
        cube=RemoteFile(
            "Indian_pines_corrected.mat",
            f"{GIC}/6/67/Indian_pines_corrected.mat",
            "indian_pines_corrected",
            5953527,
            "ec2f8808710919d566f70f0d4aa885aae1ddfd42b734aba71c5e12ca65450939",
        ),
        labels=RemoteFile(
            "Indian_pines_gt.mat",
            f"{GIC}/c/c4/Indian_pines_gt.mat",
            "indian_pines_gt",
            1125,
            "65c4687a8ab04f6da4789799bc3bc4f6e88bccac3ed6a2e6ae367e5e6b9e429c",
        ),
        rgb_bands=(43, 21, 11),
        citation="Baumgardner, Biehl, Landgrebe (2015), 220 Band AVIRIS Hyperspectral Image "
        "Data Set: June 12, 1992 Indian Pine Test Site 3, Purdue University Research "
        "Repository, doi:10.4231/R7RX991C; " + _AVIRIS_CITE,
        aliases=("IP", "indian_pines"),
    ),
    SceneInfo(
        name="PaviaU",
        sensor="ROSIS",
        shape=(610, 340, 103),
        class_names=PU_CLASSES,
        n_labelled=42776,
        cube=RemoteFile(
            "PaviaU.mat",
            f"{GIC}/e/ee/PaviaU.mat",
            "paviaU",
            34806917,
            "28447fa87f7a5797845e9a189c0da85e23b1d06a4ba7361e5ff44efbf834d2fb",
        ),
        labels=RemoteFile(
            "PaviaU_gt.mat",
            f"{GIC}/5/50/PaviaU_gt.mat",
            "paviaU_gt",
            11005,
            "23f6a426928f9b32984adffe659e29f554f9fb6c93b5a107528d308d5087a829",
        ),
        rgb_bands=(55, 41, 12),
        citation="ROSIS, courtesy of P. Gamba, Telecommunications and Remote Sensing "
        "Laboratory, University of Pavia; .mat packaging by GIC, UPV/EHU, " + GIC_PAGE,
        aliases=("PU", "PaviaUniversity", "pavia_university"),
    ),
    SceneInfo(
        name="Salinas",
        sensor="AVIRIS",
        shape=(512, 217, 204),
        class_names=SALINAS_CLASSES,
        n_labelled=54129,
        cube=RemoteFile(
            "Salinas_corrected.mat",
            f"{GIC}/a/a3/Salinas_corrected.mat",
            "salinas_corrected",
            26552770,
            "5ec1c0d22f56d18ecd336f8e35735863c0f160682e04e0c18ef3f89a3334d87d",
        ),
        labels=RemoteFile(
            "Salinas_gt.mat",
            f"{GIC}/f/fa/Salinas_gt.mat",
            "salinas_gt",
            4277,
            "ecfab4d31ef5553f097943235d8ea502038eb4a2067b2ad10b33e37c949955e2",
        ),
        rgb_bands=(43, 21, 11),
        citation="AVIRIS over Salinas Valley, California; " + _AVIRIS_CITE,
        aliases=("SA", "salinas"),
    ),
    SceneInfo(
        name="SalinasA",
        sensor="AVIRIS",
        shape=(83, 86, 204),
        class_names=tuple(SALINAS_CLASSES[i - 1] for i in SALINAS_A_IDS),
        class_ids=SALINAS_A_IDS,
        n_labelled=5348,
        cube=RemoteFile(
            "SalinasA_corrected.mat",
            f"{GIC}/1/1a/SalinasA_corrected.mat",
            "salinasA_corrected",
            1539086,
            "d75684ed3ab71a1024cee0f9db9061f50a3523a92ff5edfbbb1eed976b9f1721",
        ),
        labels=RemoteFile(
            "SalinasA_gt.mat",
            f"{GIC}/a/aa/SalinasA_gt.mat",
            "salinasA_gt",
            587,
            "17814c1d3296c0e29b27f320f2c4174d2a68adb87e376abe78f02923e2c2e454",
        ),
        rgb_bands=(43, 21, 11),
        citation="Salinas-A sub-scene of AVIRIS Salinas Valley; " + _AVIRIS_CITE,
        embedded=True,
        aliases=("Salinas-A", "salinasA"),
    ),
    SceneInfo(
        name="PaviaC",
        sensor="ROSIS",
        shape=(1096, 715, 102),
        class_names=(
            "Water",
            "Trees",
            "Asphalt",
            "Self-Blocking Bricks",
            "Bitumen",
            "Tiles",
            "Shadows",
            "Meadows",
            "Bare Soil",
        ),
        n_labelled=148152,
        cube=RemoteFile(
            "Pavia.mat",
            f"{GIC}/e/e3/Pavia.mat",
            "pavia",
            129624657,
            "b60341da323fd271cd97dd6d7a69514d385ccd7fdfc5a60c4ff5994b047f152e",
        ),
        labels=RemoteFile("Pavia_gt.mat", f"{GIC}/5/53/Pavia_gt.mat", "pavia_gt"),
        rgb_bands=(55, 41, 12),
        citation="ROSIS Pavia Centre, courtesy of P. Gamba, University of Pavia; " + GIC_PAGE,
        aliases=("PaviaCentre", "Pavia"),
    ),
    SceneInfo(
        name="KSC",
        sensor="AVIRIS",
        shape=(512, 614, 176),
        class_names=(
            "Scrub",
            "Willow swamp",
            "Cabbage palm hammock",
            "Cabbage palm/oak hammock",
            "Slash pine",
            "Oak/broadleaf hammock",
            "Hardwood swamp",
            "Graminoid marsh",
            "Spartina marsh",
            "Cattail marsh",
            "Salt marsh",
            "Mud flats",
            "Water",
        ),
        n_labelled=5211,
        cube=RemoteFile(
            "KSC.mat",
            f"{GIC}/2/26/KSC.mat",
            "KSC",
            56824624,
            "b1ad011cfdb65c853e4f9f6108ca4774467d87f90a5c23b74ff3a2984a3b4786",
        ),
        labels=RemoteFile("KSC_gt.mat", f"{GIC}/a/a6/KSC_gt.mat", "KSC_gt"),
        rgb_bands=(43, 21, 11),
        citation="Kennedy Space Center, AVIRIS 1996, Center for Space Research, University of "
        "Texas at Austin; " + GIC_PAGE,
        aliases=("KennedySpaceCenter",),
    ),
    SceneInfo(
        name="Botswana",
        sensor="Hyperion",
        shape=(1476, 256, 145),
        class_names=(
            "Water",
            "Hippo grass",
            "Floodplain grasses 1",
            "Floodplain grasses 2",
            "Reeds",
            "Riparian",
            "Firescar",
            "Island interior",
            "Acacia woodlands",
            "Acacia shrublands",
            "Acacia grasslands",
            "Short mopane",
            "Mixed mopane",
            "Exposed soils",
        ),
        n_labelled=3248,
        cube=RemoteFile(
            "Botswana.mat",
            f"{GIC}/7/72/Botswana.mat",
            "Botswana",
            78911133,
            "f1603903c844cdc2980550b0180688e8e1a72d4292595d1120e1dec2a80a91c7",
        ),
        labels=RemoteFile("Botswana_gt.mat", f"{GIC}/5/58/Botswana_gt.mat", "Botswana_gt"),
        rgb_bands=(75, 33, 15),
        citation="Okavango Delta, Hyperion 2001, Center for Space Research, University of "
        "Texas at Austin; " + GIC_PAGE,
    ),
    SceneInfo(
        name="Houston2013",
        sensor="CASI-1500",
        shape=(349, 1905, 144),
        class_names=(
            "Healthy grass",
            "Stressed grass",
            "Synthetic grass",
            "Trees",
            "Soil",
            "Water",
            "Residential",
            "Commercial",
            "Road",
            "Highway",
            "Railway",
            "Parking Lot 1",
            "Parking Lot 2",
            "Tennis Court",
            "Running Track",
        ),
        n_labelled=15029,
        cube=RemoteFile("2013_IEEE_GRSS_DF_Contest_CASI.tif", None),
        labels=RemoteFile("Houston2013_gt.tif", None),
        rgb_bands=(59, 40, 23),
        citation="2013 IEEE GRSS Data Fusion Contest, Hyperspectral Image Analysis Laboratory, "
        "University of Houston (registration required: "
        "https://hyperspectral.ee.uh.edu/?page_id=459)",
        notes="Distributed after registration only: place the files in a data directory. "
        "The standard train/test split is a 'file' split (mssfe split --split file:PATH).",
        aliases=("Houston", "Houston13"),
    ),
)


def _by_name() -> dict[str, SceneInfo]:
    table: dict[str, SceneInfo] = {}
    for info in SCENES:
        for key in (info.name, *info.aliases):
            table[key.lower()] = info
    return table


def scene_names() -> list[str]:
    """Canonical names of the registered file-backed scenes."""
    return [s.name for s in SCENES]


def get_scene_info(name: str, extra: dict[str, SceneInfo] | None = None) -> SceneInfo:
    """Look up a scene by name or alias (case-insensitive); suggest the closest on a miss."""
    table = _by_name()
    if extra:
        table.update({k.lower(): v for k, v in extra.items()})
    try:
        return table[name.lower()]
    except KeyError:
        hint = did_you_mean(name.lower(), table, display=lambda key: table[key].name)
        known = ", ".join(sorted({v.name for v in table.values()}))
        raise ConfigError(f"unknown scene '{name}'{hint} Known scenes: {known}") from None
