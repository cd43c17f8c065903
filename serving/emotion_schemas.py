"""Request and response bodies of the emotion service (validated by pydantic, so a bad
face array gets a 400 naming the element, e.g. ``faces.2.47.3``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from pipelines.fer.schema import EMOTIONS

Pixel = Annotated[int, Field(ge=0, le=255)]
Row = Annotated[list[Pixel], Field(min_length=48, max_length=48)]
Face = Annotated[list[Row], Field(min_length=48, max_length=48)]


class FaceBox(BaseModel):
    x: int
    y: int
    width: int
    height: int


class FacePrediction(BaseModel):
    """One face: the most likely emotion, its probability, all seven, the model version."""

    model_config = ConfigDict(protected_namespaces=())

    label: int = Field(ge=0, le=6)
    emotion: str
    confidence: float
    probabilities: dict[str, float]
    model_version: str
    box: FaceBox | None = None  # where in the uploaded image (image form only)


class ImageInfo(BaseModel):
    width: int
    height: int


class ModelInfo(BaseModel):
    name: str
    version: str
    runtime: str


class ImagePrediction(BaseModel):
    """The image form's answer: every face found (possibly none), with its box."""

    faces: list[FacePrediction]
    image: ImageInfo
    model: ModelInfo


def predictions(proba, version: str, boxes=None) -> list[FacePrediction]:
    """FacePrediction per row of ``proba`` (N, 7), with ``boxes`` when given."""
    out = []
    for i, row in enumerate(proba):
        label = int(row.argmax())
        box = None
        if boxes is not None:
            x, y, w, h = boxes[i]
            box = FaceBox(x=x, y=y, width=w, height=h)
        out.append(
            FacePrediction(
                label=label,
                emotion=EMOTIONS[label],
                confidence=round(float(row[label]), 6),
                probabilities={e: round(float(p), 6) for e, p in zip(EMOTIONS, row, strict=True)},
                model_version=version,
                box=box,
            )
        )
    return out
