"""Typed, validated view of ``params.yaml``.

Every job takes one of these frozen objects; a bad value fails at load time with the
dotted path of the field, never half-way through a training run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from senim.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataParams(_Strict):
    source: Literal["synthetic", "csv", "postgres"] = "synthetic"
    csv_path: str | None = None
    postgres_table: str = Field("credit_ratings", pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$")
    snapshot_path: str = "data/credit/snapshot.csv"

    @model_validator(mode="after")
    def _csv_needs_path(self) -> DataParams:
        snapshot = Path(self.snapshot_path)
        if snapshot.is_absolute() or ".." in snapshot.parts or snapshot.parts[:1] != ("data",):
            raise ValueError("data.snapshot_path must be a relative path under data/")
        if self.source == "csv" and not self.csv_path:
            raise ValueError("data.csv_path is required when data.source is 'csv'")
        return self


class SyntheticParams(_Strict):
    seed: int = 42
    n_companies: int = Field(260, ge=12)
    min_ratings_per_company: int = Field(1, ge=1)
    max_ratings_per_company: int = Field(7, ge=1)
    noise: float = Field(0.35, ge=0.0, le=1.0)
    # A documented shift for monitoring demos (``senim credit generate --drift``): every
    # company's ratios look ``3 * drift`` notches worse than its rating (a downturn not yet
    # re-rated), so features, predicted bands and scores move; 0 draws the ordinary data.
    drift: float = Field(0.0, ge=0.0, le=2.0)

    @model_validator(mode="after")
    def _range(self) -> SyntheticParams:
        if self.max_ratings_per_company < self.min_ratings_per_company:
            raise ValueError("synthetic.max_ratings_per_company is below min_ratings_per_company")
        return self


class ValidationParams(_Strict):
    min_rows: int = Field(100, ge=1)
    min_rows_per_band: int = Field(5, ge=1)
    max_null_fraction: float = Field(0.05, ge=0.0, le=1.0)
    max_duplicate_rows: int = Field(0, ge=0)


# The columns a credit model may read besides the 25 ratios (pipelines.credit.schema).
CREDIT_CATEGORICAL_COLUMNS = ("Sector", "Rating Agency Name")
CREDIT_RATING_AGENCIES = (
    "Standard & Poor's Ratings Services",
    "Egan-Jones Ratings Company",
    "Moody's Investors Service",
    "Fitch Ratings",
    "DBRS",
)


class FeatureParams(_Strict):
    """What the credit candidates read besides the ratios, and how ratios are prepared."""

    knn_neighbors: int = Field(5, ge=1)
    # One-hot columns: the sector, and the agency whose scale the rating is on.
    categorical: tuple[Literal["Sector", "Rating Agency Name"], ...] = CREDIT_CATEGORICAL_COLUMNS
    rating_year: bool = True  # the year of the rating's Date
    # For scale-sensitive models (logistic regression): signed log, then standardised.
    ratio_transform: Literal["none", "signed_log"] = "signed_log"

    @model_validator(mode="after")
    def _distinct(self) -> FeatureParams:
        if len(set(self.categorical)) != len(self.categorical):
            raise ValueError("features.categorical lists a column twice")
        return self


class CalibrationParams(_Strict):
    """Probabilities of the registered credit model, calibrated on inner-fold scores."""

    enabled: bool = True
    inner_splits: int = Field(4, ge=2, le=10)  # company-grouped folds inside each fit


class CVParams(_Strict):
    n_splits: int = Field(5, ge=2, le=20)
    seed: int = 42


class SmoteParams(_Strict):
    k_neighbors: int = Field(5, ge=1)


class TrialCounts(_Strict):
    logistic_regression: int = Field(8, ge=1)
    decision_tree: int = Field(10, ge=1)
    random_forest: int = Field(6, ge=1)
    xgboost: int = Field(15, ge=1)
    ordinal_xgboost: int = Field(15, ge=1)


class TuningParams(_Strict):
    seed: int = 42
    pruning: bool = True
    timeout_seconds: float | None = Field(None, gt=0)
    trials: TrialCounts = TrialCounts()


class BaselineParams(_Strict):
    enabled: bool = True
    max_depth: list[int] = [3, 5, 7]
    learning_rate: list[float] = [0.05, 0.1]
    n_estimators: list[int] = [100, 200]


class SelectionParams(_Strict):
    metric: Literal["macro_f1", "balanced_accuracy", "accuracy", "within_one_band_accuracy"] = (
        "macro_f1"
    )


class GateParams(_Strict):
    min_macro_f1: float = Field(0.25, ge=0.0, le=1.0)
    min_balanced_accuracy: float = Field(0.25, ge=0.0, le=1.0)
    min_within_one_band_accuracy: float = Field(0.70, ge=0.0, le=1.0)
    max_mean_abs_band_error: float = Field(1.0, ge=0.0)
    champion_tolerance: float = Field(0.0, ge=0.0, le=1.0)


class BehaviourParams(_Strict):
    """Behavioural checks a trained credit model must pass before it may be promoted."""

    enabled: bool = True
    sample_rows: int = Field(200, ge=10)  # training rows the checks perturb
    # Score points (0-100, mean over the sample) a finance-agreed change may move the
    # wrong way before the check fails.
    directional_tolerance: float = Field(1.0, ge=0)
    # Score points the strongest band's prototype must lead the weakest one's by.
    min_prototype_gap: float = Field(10.0, ge=0, le=100)


class RegistryParams(_Strict):
    model_name: str = Field("credit-rating", min_length=1)
    experiment: str = Field("credit-rating", min_length=1)


class ScoringParams(_Strict):
    """Decision thresholds and the scoring service's limits."""

    approve_min_score: float = Field(60, ge=0, le=100)
    reject_max_score: float = Field(40, ge=0, le=100)
    max_batch: int = Field(256, ge=1, le=1000)  # applications per score_batch request
    top_reasons: int = Field(5, ge=0, le=26)  # reason codes per scored application
    store_inputs: bool = False  # prediction log keeps full inputs, not only their hash
    # XGBoost reason codes: "exact" TreeSHAP, or "approximate" (Saabas), ~5x faster.
    xgboost_contributions: Literal["exact", "approximate"] = "approximate"
    # The scale a request is rated on when it names no agency (field "Rating Agency Name").
    default_rating_agency: Literal[CREDIT_RATING_AGENCIES] = (  # type: ignore[valid-type]
        "Standard & Poor's Ratings Services"
    )

    @model_validator(mode="after")
    def _ordered(self) -> ScoringParams:
        if self.reject_max_score > self.approve_min_score:
            raise ValueError("scoring.reject_max_score is above scoring.approve_min_score")
        return self


class OrchestrationParams(_Strict):
    """Retries for I/O tasks only (source reads, DVC pushes, store checks), and where a
    retraining's parallel tasks run (``flows.task_runners``)."""

    io_retries: int = Field(3, ge=0, le=10)
    io_retry_delay_seconds: list[float] = [2, 5, 15]
    task_runner: Literal["local", "dask"] = "local"
    local_workers: int = Field(2, ge=1, le=64)  # threads of the local runner
    dask_workers: int = Field(2, ge=1, le=256)  # LocalCluster processes (no SENIM_DASK_ADDRESS)
    # Dask tasks per family sharing its Optuna study (flows.task_runners.trial_tasks).
    trial_tasks: int = Field(1, ge=1, le=256)
    # Prefect workers (``flows.crash_detection``): a run's heartbeat (Prefect allows >= 30 s)
    # and how many missed beats mark it Crashed.
    heartbeat_seconds: int = Field(60, ge=30, le=3600)
    missed_heartbeats: int = Field(3, ge=2, le=20)


class RateLimitParams(_Strict):
    """A token bucket: ``burst`` requests at once, refilled at ``per_minute``."""

    burst: int = Field(ge=1)
    per_minute: float = Field(gt=0)


class RiskParams(_Strict):
    """Risk-based login: weights of each signal; the sum picks LOW / MEDIUM / HIGH."""

    new_device: float = Field(25, ge=0)
    new_network: float = Field(20, ge=0)
    recent_failure: float = Field(10, ge=0)  # per failure in the last hour, capped below
    recent_failures_cap: float = Field(40, ge=0)
    unusual_hour: float = Field(15, ge=0)
    impossible_velocity: float = Field(60, ge=0)
    velocity_window_minutes: int = Field(30, ge=1)
    medium_at: float = Field(30, ge=0)
    high_at: float = Field(70, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> RiskParams:
        if self.high_at <= self.medium_at:
            raise ValueError("auth.risk.high_at must be above auth.risk.medium_at")
        return self


class AuthParams(_Strict):
    access_token_minutes: int = Field(15, ge=1, le=60)
    refresh_token_days: int = Field(14, ge=1, le=90)
    jwt_algorithm: Literal["HS256", "EdDSA", "RS256"] = "HS256"
    issuer: str = "senim"
    audience: str = "senim-api"
    password_min_length: int = Field(12, ge=12)
    password_max_length: int = Field(128, ge=64, le=1024)
    argon2_time_cost: int = Field(3, ge=1)
    argon2_memory_kib: int = Field(65536, ge=19456)
    argon2_parallelism: int = Field(1, ge=1)
    lockout_threshold: int = Field(5, ge=1, le=50)
    lockout_base_seconds: int = Field(60, ge=1)
    lockout_max_seconds: int = Field(3600, ge=1)
    login_rate_per_ip: RateLimitParams = RateLimitParams(burst=10, per_minute=10)
    login_rate_per_identity: RateLimitParams = RateLimitParams(burst=5, per_minute=5)
    token_rate_per_ip: RateLimitParams = RateLimitParams(burst=30, per_minute=60)
    api_key_rate: RateLimitParams = RateLimitParams(burst=50, per_minute=600)
    # Where the buckets live: memory (per process), database (shared by every worker and
    # replica on the platform database), auto (database when serving with several workers)
    rate_limit_store: Literal["auto", "memory", "database"] = "auto"
    # A verified API key is trusted again for this long without a database lookup;
    # revocation through another process takes effect within it. 0 turns it off.
    api_key_cache_seconds: float = Field(1.0, ge=0, le=60)
    max_body_bytes: int = Field(65536, ge=1024)
    # Minting an API key needs a sign-in with the second factor at most this long ago.
    key_creation_max_auth_age_seconds: int = Field(300, ge=30, le=3600)
    risk: RiskParams = RiskParams()

    @model_validator(mode="after")
    def _lockout_range(self) -> AuthParams:
        if self.lockout_max_seconds < self.lockout_base_seconds:
            raise ValueError("auth.lockout_max_seconds is below auth.lockout_base_seconds")
        return self


class FerDataParams(_Strict):
    """Where the FER2013 images come from: the synthetic generator, or a file or folder in
    one of the three common forms (``fer2013.csv``, the image folders, an ``.npz``)."""

    source: Literal["synthetic", "csv", "folder", "npz"] = "synthetic"
    path: str | None = None
    snapshot_path: str = "data/fer/snapshot.npz"

    @model_validator(mode="after")
    def _path_for_files(self) -> FerDataParams:
        snapshot = Path(self.snapshot_path)
        if snapshot.is_absolute() or ".." in snapshot.parts or snapshot.parts[:1] != ("data",):
            raise ValueError("fer.data.snapshot_path must be a relative path under data/")
        if self.source != "synthetic" and not self.path:
            raise ValueError(f"fer.data.path is required when fer.data.source is {self.source!r}")
        return self


class FerSyntheticParams(_Strict):
    """Procedurally drawn 48x48 faces whose expression geometry depends on the class."""

    seed: int = 13
    train_per_class: int = Field(150, ge=1, le=10_000)
    test_per_class: int = Field(20, ge=1, le=10_000)
    noise: float = Field(0.15, ge=0.0, le=1.0)  # pixel noise, as a fraction of 255


class FerValidationParams(_Strict):
    """What every FER snapshot must satisfy before training (see pipelines.fer.validate)."""

    min_images_per_class: int = Field(10, ge=1)
    blank_std_threshold: float = Field(1.0, ge=0.0)  # pixel std below this: a blank image
    max_blank_fraction: float = Field(0.01, ge=0.0, le=1.0)
    required_usages: list[Literal["Training", "PublicTest", "PrivateTest"]] = [
        "Training",
        "PublicTest",
    ]


class FerTrainingProfile(_Strict):
    """One way to train the emotion CNN (see models.fer_cnn and pipelines.fer.training)."""

    architecture: Literal["paper_cnn", "senim_cnn"] = "senim_cnn"
    width: int = Field(48, ge=4, le=256)  # senim_cnn first block filters; 48: int8 speed
    epochs: int = Field(60, ge=1, le=500)
    batch_size: int = Field(64, ge=1, le=4096)
    learning_rate: float = Field(1e-3, gt=0, le=1)
    lr_schedule: Literal["constant", "cosine", "plateau"] = "cosine"
    # adam: fast to fit; sgd: Nesterov momentum 0.9, which with weight decay generalises
    # better on FER2013 (the best published single models train this way)
    optimizer: Literal["adam", "sgd"] = "adam"
    weight_decay: float = Field(0.0, ge=0, lt=1)  # decoupled, on every weight
    max_train_images: int | None = Field(None, ge=7)  # a class-stratified subset, or all
    augmentation: bool = True  # flips, small shifts, rotations and zoom, on the fly
    label_smoothing: float = Field(0.1, ge=0, lt=1)
    class_weights: bool = True  # inverse-frequency weights (Disgust is 1.5% of FER2013)
    early_stopping_patience: int | None = Field(10, ge=1)  # on PublicTest accuracy
    tta: bool = False  # test-time augmentation (horizontal flip) at evaluation
    # float16 compute on a GPU, bfloat16 on a CPU with bfloat16 units; float32 elsewhere
    mixed_precision: bool = False
    baseline_epochs: int = Field(20, ge=0, le=500)  # paper_cnn as the paper trains it; 0: skip


FerProfileName = Literal["quick", "cpu", "full"]
FER_PROFILES: tuple[str, ...] = ("quick", "cpu", "full")


class FerTrainingParams(_Strict):
    profile: FerProfileName = "quick"
    seed: int = 7
    profiles: dict[FerProfileName, FerTrainingProfile] = {
        "quick": FerTrainingProfile(
            width=16,
            epochs=6,
            batch_size=32,
            learning_rate=0.002,
            lr_schedule="constant",
            max_train_images=6000,
            augmentation=False,
            class_weights=False,
            early_stopping_patience=None,
            baseline_epochs=1,
        ),
        "cpu": FerTrainingProfile(
            width=40,
            epochs=60,
            learning_rate=0.05,
            optimizer="sgd",
            weight_decay=5e-4,
            class_weights=False,
            early_stopping_patience=None,
            tta=True,
            mixed_precision=True,
            baseline_epochs=0,
        ),
        "full": FerTrainingProfile(class_weights=False, tta=True, mixed_precision=True),
    }

    @model_validator(mode="after")
    def _both_profiles(self) -> FerTrainingParams:
        missing = {"quick", "full"} - set(self.profiles)
        if missing:
            raise ValueError(f"fer.training.profiles is missing {', '.join(sorted(missing))}")
        return self

    @property
    def active(self) -> FerTrainingProfile:
        return self.profiles[self.profile]


class FerGateParams(_Strict):
    """Promotion of a new emotion model: floors on PublicTest, and no worse than champion."""

    min_accuracy: float = Field(0.3, ge=0.0, le=1.0)
    min_macro_f1: float = Field(0.2, ge=0.0, le=1.0)
    champion_tolerance: float = Field(0.0, ge=0.0, le=1.0)
    max_int8_accuracy_drop: float = Field(0.01, ge=0.0, le=1.0)  # int8 export acceptance


class FerParams(_Strict):
    data: FerDataParams = FerDataParams()
    synthetic: FerSyntheticParams = FerSyntheticParams()
    validation: FerValidationParams = FerValidationParams()
    training: FerTrainingParams = FerTrainingParams()
    gate: FerGateParams = FerGateParams()
    registry: RegistryParams = RegistryParams(model_name="fer-emotion", experiment="fer-emotion")


class EmotionServiceParams(_Strict):
    """The emotion service: which export it runs, what it accepts, how it finds faces."""

    runtime: Literal["float16", "int8"] = "float16"  # TFLite export served (both ~Keras)
    max_image_bytes: int = Field(5 * 1_048_576, ge=1024, le=50 * 1_048_576)
    max_image_pixels: int = Field(4096 * 4096, ge=48 * 48)  # width x height, decoded
    min_face_pixels: int = Field(32, ge=8)  # smallest face side the detector looks for
    detector_scale_factor: float = Field(1.1, gt=1, le=2)  # Haar cascade image pyramid step
    detector_min_neighbors: int = Field(5, ge=1, le=50)  # higher: fewer, surer faces
    # A camera host counts as online while its last heartbeat is at most this old.
    edge_online_seconds: int = Field(120, ge=10, le=86400)


class FairnessParams(_Strict):
    """Credit fairness slices (per sector, per rating agency) in the model card."""

    slices: list[str] = ["Sector", "Rating Agency Name"]  # columns of the data to slice by
    metric: Literal["macro_f1", "balanced_accuracy", "accuracy"] = "macro_f1"
    max_gap: float = Field(0.15, ge=0, le=1)  # a slice this far below the overall is flagged
    min_slice_size: int = Field(20, ge=1)  # smaller slices are reported, never flagged


class ReviewParams(_Strict):
    """Human approval before ``champion`` moves (issue 7)."""

    # Registries whose champion moves only after a reviewer approves; any other registry
    # (a sandbox, a team's experiments) is promoted by the automatic gate alone.
    approval_required_for: list[str] = ["credit-rating", "fer-emotion"]
    forbid_self_approval: bool = True  # the person who trained a version may not approve it
    require_2fa: bool = True  # approving, rejecting and rolling back are 2FA actions
    fairness: FairnessParams = FairnessParams()


class DeploymentParams(_Strict):
    """How a promotion reaches the running services (pipelines.release.follow, serving)."""

    follow_registry: bool = True  # an alias move Senim makes deploys the version it names
    watch_seconds: float = Field(1.0, gt=0, le=3600)  # a service re-reads its record this often
    shadow_queue: int = Field(1000, ge=1, le=1_000_000)  # requests awaiting the shadow


class MonitoringRetrainParams(_Strict):
    """What a drift-triggered retraining trains on (``flows.monitor_credit``)."""

    enabled: bool = True  # False: the monitor reports and never retrains
    # A retraining trains on the data source ``data`` names. On the embedded default
    # (``synthetic``) that is a fresh draw: a new seed, with this shift applied.
    synthetic_drift: float = Field(1.0, ge=0.0, le=2.0)


class MonitoringParams(_Strict):
    """What is kept of production traffic and when it counts as drifted (issue 20)."""

    retention_days: int = Field(90, ge=1, le=3650)  # monitoring rows older are deleted
    keep_credit_features: bool = True  # per scored row: the 25 ratios and the sector
    keep_emotion_stats: bool = True  # per face: class, confidence, size, brightness, contrast
    window_hours: float = Field(24.0, gt=0, le=24 * 365)  # the current window
    min_rows: int = Field(100, ge=1)  # fewer rows in the window: a report, never a trigger
    reference_max_rows: int = Field(5000, ge=100)  # a larger reference is sampled (seeded)
    # Per-feature drift bound; None: Evidently's default test per column (K-S or chi-square
    # p < 0.05 up to 1,000 rows, normed Wasserstein or Jensen-Shannon > 0.1 beyond).
    drift_threshold: float | None = Field(None, gt=0, lt=1)
    drift_share: float = Field(0.5, gt=0, le=1)  # share of drifted features that triggers
    max_quality_drop: float = Field(0.10, ge=0, le=1)  # realised macro-F1 below CV by this
    min_outcomes: int = Field(30, ge=1)  # realised quality needs this many outcomes
    lease_minutes: float = Field(30.0, gt=0)  # a lease its holder stopped renewing expires
    cooldown_hours: float = Field(72.0, ge=0)  # no second monitor-started retraining sooner
    retrain: MonitoringRetrainParams = MonitoringRetrainParams()


class WebParams(_Strict):
    """The browser pages mounted in the credit service at ``/web`` (README "On the web")."""

    enabled: bool = True
    # Session cookies carry Secure (sent over https only); false only for plain-http
    # use away from localhost (browsers already accept Secure cookies from localhost).
    secure_cookies: bool = True
    history_page_size: int = Field(50, ge=5, le=500)
    max_csv_bytes: int = Field(1_048_576, ge=1024, le=16_777_216)  # an uploaded CSV file
    audit_page_size: int = Field(100, ge=10, le=1000)


class Params(_Strict):
    data: DataParams = DataParams()
    synthetic: SyntheticParams = SyntheticParams()
    validation: ValidationParams = ValidationParams()
    features: FeatureParams = FeatureParams()
    calibration: CalibrationParams = CalibrationParams()
    behaviour: BehaviourParams = BehaviourParams()
    cv: CVParams = CVParams()
    smote: SmoteParams = SmoteParams()
    tuning: TuningParams = TuningParams()
    baseline: BaselineParams = BaselineParams()
    selection: SelectionParams = SelectionParams()
    gate: GateParams = GateParams()
    registry: RegistryParams = RegistryParams()
    scoring: ScoringParams = ScoringParams()
    orchestration: OrchestrationParams = OrchestrationParams()
    auth: AuthParams = AuthParams()
    fer: FerParams = FerParams()
    emotion_service: EmotionServiceParams = EmotionServiceParams()
    review: ReviewParams = ReviewParams()
    deployment: DeploymentParams = DeploymentParams()
    monitoring: MonitoringParams = MonitoringParams()
    web: WebParams = WebParams()

    def with_overrides(self, **sections: dict) -> Params:
        """A copy with some fields replaced, validated again (e.g. ``data={"source": "csv"}``)."""
        merged = self.model_dump()
        for section, values in sections.items():
            merged[section] = {**merged[section], **values}
        return parse_params(merged, origin="overrides")


def parse_params(raw: object, origin: str = "params.yaml") -> Params:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: expected a mapping at the top level")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{origin}: {problems}") from None


def load_params(path: str | Path) -> Params:
    """Read and validate a params file; a missing or malformed file is a ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read params file {path}: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_params(raw, origin=str(path))
