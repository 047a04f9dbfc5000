from collections.abc import Callable, Iterable
from typing import Any, TypeVar

_T = TypeVar("_T")

KIND_PLAIN: int
KIND_STR: int
KIND_INTERNED: int
KIND_ENUM: int
KIND_FIXED: int
KIND_CALL: int

class SlotDecoder:
    def __init__(self, cls: type, plan: Iterable[tuple[Any, int, Any, bool]]) -> None: ...
    @property
    def fields(self) -> int: ...
    def __call__(self, a: list[Any]) -> Any: ...

def decode_batch(
    records: Iterable[Any],
    loads: Callable[[Any], Any],
    decoders: dict[int, Callable[[list[Any]], Any]],
    arity: dict[int, int],
    fallback: Callable[[Any], Any],
    passthrough: type[BaseException],
    on_error: Callable[[Any, Exception], BaseException],
) -> list[Any]: ...
def fill_slots(obj: object, setters: tuple[Any, ...], values: tuple[Any, ...]) -> None: ...
def build(cls: type[_T], setters: tuple[Any, ...], values: tuple[Any, ...]) -> _T: ...
def copy_replacing(obj: _T, setters: tuple[Any, ...], index: int, value: Any) -> _T: ...
