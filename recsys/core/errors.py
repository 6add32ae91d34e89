"""Exceptions shared by the library, the pipelines and the service."""


class RecsysError(Exception):
    """Base class for errors that carry a message meant for a person."""


class InputDataError(RecsysError):
    """An input file is missing, unreadable or has the wrong shape."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class ArtifactError(RecsysError):
    """An artifact directory is missing, incomplete, corrupt or incompatible."""


class NotFoundError(RecsysError):
    """A requested entity (item, user) does not exist."""


class InvalidRequestError(RecsysError):
    """A request is well-formed but its parameters contradict each other or the data."""


class InvalidParameterError(InvalidRequestError):
    """One parameter has a value the data does not know (an unknown genre): the message
    names the parameter and the allowed values. The API answers 422 ``invalid_parameter``."""

    def __init__(self, parameter: str, value: str, allowed: list[str]) -> None:
        self.parameter = parameter
        shown = ", ".join(allowed[:60]) + (
            f", ... ({len(allowed)} in all)" if len(allowed) > 60 else ""
        )
        super().__init__(
            f"query parameter {parameter!r}: unknown value {value!r}; allowed: {shown}"
        )
