"""What every pose detector offers, and the registry that builds one by name.

A detector turns consecutive RGB frames into a :class:`~dataset.keypoints.PoseSequence` in the
shared OpenPose layout. The extraction pipeline (:mod:`dataset.pose.extract`) only ever talks to
this interface, so another backend (a GPU OpenPose build, a newer MediaPipe task) can be added by
registering a factory without touching the pipeline, its cache or its tests.

Two properties the pipeline relies on:

- :attr:`PoseDetector.version` changes whenever the output for the same frames could change
  (library version, model, options, our mapping code). It is part of the cache key, so a stale cache
  is never reused after an upgrade.
- Each :meth:`PoseDetector.detect` call starts fresh: tracking may carry information from one frame
  to the next *within* a call, never across calls. That makes a chunk's result independent of which
  worker ran it or what that worker ran before, so results do not depend on the worker count.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: the command line lists detectors without numpy
    import numpy as np

    from dataset.keypoints import PoseSequence


class PoseDetector(abc.ABC):
    """A pose detector over consecutive RGB ``uint8`` frames ``(H, W, 3)``.

    Use as a context manager (or call :meth:`close`) so native resources are released promptly;
    worker processes keep one instance alive for many :meth:`detect` calls.
    """

    #: Registry name, e.g. ``"mediapipe-holistic"``.
    name: str = ""

    @property
    @abc.abstractmethod
    def version(self) -> str:
        """A string that differs whenever outputs for the same frames could differ (cache key)."""

    @abc.abstractmethod
    def detect(self, frames: Iterable[np.ndarray]) -> PoseSequence:
        """Keypoints of consecutive frames, one entry per frame, in pixels of each frame.

        Tracking state may be used within the call; every call starts a new track.
        """

    def close(self) -> None:  # noqa: B027 - optional hook: detectors without native state need nothing
        """Release native resources; the detector must not be used afterwards."""

    def __enter__(self) -> PoseDetector:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


DetectorFactory = Callable[..., PoseDetector]
VersionFunction = Callable[..., str]

_REGISTRY: dict[str, tuple[DetectorFactory, VersionFunction | None]] = {}


def register_detector(name: str, factory: DetectorFactory, version_of: VersionFunction | None = None) -> None:
    """Make ``get_detector(name, **options)`` build detectors with ``factory(**options)``.

    ``version_of(**options)``, if given, returns the version such a detector would report without
    building it (loading models takes a second; the extraction driver only needs the version to find
    cached results, and may never run a detector itself).
    """
    _REGISTRY[name] = (factory, version_of)


def available_detectors() -> list[str]:
    """Names accepted by :func:`get_detector`, sorted."""
    _register_builtins()
    return sorted(_REGISTRY)


def _lookup(name: str) -> tuple[DetectorFactory, VersionFunction | None]:
    _register_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        valid = ", ".join(repr(n) for n in sorted(_REGISTRY))
        raise ValueError(f"unknown pose detector {name!r}; valid detectors: {valid}") from None


def get_detector(name: str, **options: Any) -> PoseDetector:
    """Build the detector registered as ``name`` with ``options`` (passed to its constructor).

    Raises ``ValueError`` naming the valid detectors when ``name`` is unknown.
    """
    factory, _ = _lookup(name)
    return factory(**options)


def detector_version(name: str, **options: Any) -> str:
    """The :attr:`PoseDetector.version` of ``get_detector(name, **options)``, cheaply if possible.

    Invalid options raise here just as they would when building the detector.
    """
    factory, version_of = _lookup(name)
    if version_of is not None:
        return version_of(**options)
    with factory(**options) as detector:
        return detector.version


def _register_builtins() -> None:
    # Imported lazily: registering must not import mediapipe (slow, and absent on light installs).
    if "mediapipe-holistic" not in _REGISTRY:

        def holistic(**options: Any) -> PoseDetector:
            from dataset.pose.mediapipe_holistic import HolisticDetector

            return HolisticDetector(**options)

        def holistic_version(**options: Any) -> str:
            from dataset.pose.mediapipe_holistic import HolisticDetector

            return HolisticDetector.version_for(**options)

        _REGISTRY["mediapipe-holistic"] = (holistic, holistic_version)
