"""Container names: random ones in Docker's `adjective_surname` style, and validation.

The domain has no random source: the caller draws a non-negative integer and
`random_name` turns it into a name, so the same draw always gives the same name.
The word lists are berth's own; the surnames are of scientists and engineers.
"""

from __future__ import annotations

import re

from .errors import InvalidParameter

NAME_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]"
# Docker's validContainerNamePattern. Use `fullmatch`: in Python `$` would also accept a
# trailing newline, which Go's `$` does not.
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

ADJECTIVES: tuple[str, ...] = (
    "able", "agile", "airy", "amiable", "ardent", "artful", "astute", "balmy", "blithe",
    "bold", "boring", "breezy", "bright", "brisk", "buoyant", "calm", "candid", "careful",
    "cheerful", "civil", "clear", "cosmic", "crisp", "curious", "daring", "dapper", "deft",
    "devoted", "diligent", "dreamy", "earnest", "easy", "fearless", "fond", "frank",
    "gentle", "glad", "golden", "grateful", "hardy", "hearty", "honest", "humble", "jaunty",
    "joyful", "keen", "kindly", "lively", "lucky", "merry", "mellow", "mindful", "nimble",
    "noble", "patient", "placid", "plucky", "polite", "proud", "quick", "quiet", "radiant",
    "rapid", "ready", "resolute", "robust", "rosy", "sage", "sincere", "snappy", "spirited",
    "splendid", "spry", "steady", "sturdy", "sunny", "swift", "tidy", "tranquil", "valiant",
    "vivid", "warm", "wise", "witty", "zesty",
)  # fmt: skip

NOUNS: tuple[str, ...] = (
    "abel", "agnesi", "alhazen", "ampere", "archimedes", "aristarchus", "avogadro",
    "babbage", "backus", "banach", "bardeen", "bartik", "bernoulli", "berners", "bessel",
    "bohr", "boltzmann", "boole", "borg", "bose", "boyle", "brahe", "brattain", "cantor",
    "cardano", "carnot", "carson", "cauchy", "cavendish", "cerf", "chandrasekhar", "clarke",
    "conway", "copernicus", "coulomb", "crick", "curie", "dalton", "darwin", "dedekind",
    "descartes", "dijkstra", "dirac", "doppler", "edison", "einstein", "engelbart",
    "eratosthenes", "euclid", "euler", "faraday", "fermat", "fermi", "feynman", "fibonacci",
    "fleming", "fourier", "franklin", "fresnel", "galileo", "galois", "galvani", "gauss",
    "germain", "gibbs", "godel", "goodall", "hamilton", "hamming", "hawking", "heaviside",
    "heisenberg", "helmholtz", "herschel", "hertz", "hilbert", "hodgkin", "hollerith",
    "hooke", "hopper", "hubble", "huygens", "hypatia", "jacobi", "jemison", "johnson",
    "joule", "kahan", "kelvin", "kepler", "kernighan", "kilby", "kirchhoff", "knuth",
    "kolmogorov", "kovalevskaya", "lagrange", "lamarr", "lamport", "landau", "laplace",
    "lavoisier", "leavitt", "legendre", "leibniz", "lemaitre", "liskov", "lorentz",
    "lovelace", "lyapunov", "markov", "maxwell", "mcclintock", "meitner", "mendel",
    "mendeleev", "michelson", "minsky", "mirzakhani", "morse", "napier", "nash", "neumann",
    "newton", "noether", "nyquist", "ohm", "oppenheimer", "pascal", "pasteur", "pauli",
    "pauling", "perlman", "planck", "poincare", "poisson", "ptolemy", "pythagoras",
    "ramanujan", "rayleigh", "riemann", "ritchie", "roentgen", "rutherford", "sagan",
    "salk", "schrodinger", "shannon", "shockley", "sinoussi", "stallman", "sutherland",
    "tesla", "thompson", "torvalds", "turing", "volta", "wallace", "watt", "wiener",
    "wiles", "wirth", "wozniak", "yalow", "yonath", "zuse",
)  # fmt: skip

# Steve Wozniak is not boring: Docker never hands out this name, nor does berth.
FORBIDDEN_NAME = "boring_wozniak"


def _combination(draw: int) -> str:
    adjective = ADJECTIVES[draw % len(ADJECTIVES)]
    noun = NOUNS[(draw // len(ADJECTIVES)) % len(NOUNS)]
    return f"{adjective}_{noun}"


def random_name(draw: int, retry: int = 0) -> str:
    """A name like `brisk_noether` from a non-negative random draw.

    On a retry (the first name was taken) a digit is appended, as Docker does.
    """
    if isinstance(draw, bool) or not isinstance(draw, int) or draw < 0:
        raise ValueError(f"draw must be a non-negative int, got {draw!r}")
    name = _combination(draw)
    if name == FORBIDDEN_NAME:
        draw += 1
        name = _combination(draw)
    if retry > 0:
        name += str((draw // (len(ADJECTIVES) * len(NOUNS))) % 10)
    return name


def validate_name(name: str) -> str:
    """The stored form of a user-given container name: with one leading `/`."""
    bare = name[1:] if isinstance(name, str) and name.startswith("/") else name
    if not isinstance(bare, str) or not NAME_PATTERN.fullmatch(bare):
        raise InvalidParameter(f"Invalid container name ({name}), only {NAME_CHARS} are allowed")
    return "/" + bare
