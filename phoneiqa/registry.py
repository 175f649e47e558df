"""Name -> factory registries, extendable by third parties through entry points.

Encoders and heads are looked up by name, as in timm's ``create_model``: the built-in ones
register themselves with a decorator; other packages add theirs under the entry-point groups
``phoneiqa.encoders`` and ``phoneiqa.heads``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from phoneiqa.errors import ConfigError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping from names to factories that build ``T``."""

    def __init__(self, kind: str, entry_point_group: str) -> None:
        self.kind = kind
        self.group = entry_point_group
        self._factories: dict[str, Callable[..., T]] = {}
        self._entry_points_loaded = False

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator registering ``factory`` under ``name``."""

        def decorate(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories and self._factories[name] is not factory:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._factories[name] = factory
            if isinstance(factory, type):
                factory.name = name  # type: ignore[attr-defined]  # the registered name is the class's name
            return factory

        return decorate

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in entry_points(group=self.group):
            if ep.name not in self._factories:
                self._factories[ep.name] = ep.load()

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._load_entry_points()
        return sorted(self._factories)

    def get(self, name: str) -> Callable[..., T]:
        """The factory registered under ``name``; :class:`ConfigError` (a ``ValueError``) naming the registered
        ones if there is none."""
        self._load_entry_points()
        try:
            return self._factories[name]
        except KeyError:
            hint = did_you_mean(name, self.names())
            raise ConfigError(f"unknown {self.kind} {name!r}{hint}; registered: {', '.join(self.names())}") from None

    def create(self, name: str, **kwargs: Any) -> T:
        """Build the ``name`` object with keyword arguments; a keyword it does not take raises
        :class:`ConfigError` naming it, the closest accepted one and all of them."""
        factory = self.get(name)
        accepted = _keywords(factory)
        if accepted is not None:
            for key in kwargs:
                if key not in accepted:
                    hint = did_you_mean(key, accepted)
                    raise ConfigError(
                        f"{self.kind} {name!r} has no parameter {key!r}{hint}; it takes {', '.join(accepted)}"
                    )
        return factory(**kwargs)


def _keywords(factory: Callable[..., Any]) -> list[str] | None:
    """The keyword parameters of a factory (a class: of its ``__init__`` and, through ``**config``, of the
    base classes it forwards them to, down to ``torch.nn.Module``); ``None`` when it takes any keyword."""
    classes = factory.__mro__ if isinstance(factory, type) else (factory,)
    names: list[str] = []
    for owner in classes:
        if isinstance(factory, type) and (owner is object or owner.__module__.startswith("torch.")):
            return [n for n in dict.fromkeys(names) if n != "self"]  # below our classes: nothing more to take
        target = owner.__dict__.get("__init__") if isinstance(factory, type) else owner
        if target is None:
            continue
        params = inspect.signature(target).parameters.values()
        names += [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return [n for n in dict.fromkeys(names) if n != "self"]
    return None
