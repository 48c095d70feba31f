"""What differs between two resolved recipes, for the tests that guard recipe variants."""


def changed_keys(old: dict, new: dict, prefix: str = "") -> set[str]:
    """The dotted keys whose values differ, looking into the mappings on both sides."""
    changed = set()
    for key in old.keys() | new.keys():
        before, after = old.get(key), new.get(key)
        if isinstance(before, dict) and isinstance(after, dict):
            changed |= changed_keys(before, after, f"{prefix}{key}.")
        elif before != after:
            changed.add(prefix + key)
    return changed
