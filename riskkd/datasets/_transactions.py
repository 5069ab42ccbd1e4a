"""Synthetic card transactions with a known, interaction-driven fraud pattern.

The generator is built for scale work: rows are simulated in fixed blocks of
``_BLOCK_ROWS`` rows, each from its own random stream, so memory is bounded by
the chunk size and the output for a seed does not depend on how it is chunked.
Everything is vectorised numpy; there is no group-by over the whole data. The
per-customer history features are drawn from each customer's latent activity
rate so that they are internally consistent (``24h <= 7d <= 30d`` counts, sums
that are zero exactly when the count is) without a pass over earlier rows.
"""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["make_transactions"]

_START = np.datetime64("2024-01-01T00:00:00", "us")
_N_DAYS = 365
_SECONDS_PER_DAY = 86_400
_BLOCK_ROWS = 50_000
_PILOT_ROWS = 200_000
_AMOUNT_SIGMA = 0.8

# Relative transaction volume by hour of day: quiet nights, busy afternoons.
# fmt: off
_HOUR_WEIGHTS = np.array([
    0.6, 0.4, 0.3, 0.25, 0.3, 0.5, 1.0, 2.0, 3.0, 4.0, 4.5, 5.0,  # 00-11
    5.5, 5.0, 4.8, 4.8, 5.0, 5.5, 6.0, 5.5, 4.5, 3.5, 2.2, 1.2,  # 12-23
])
# fmt: on

# name, share of merchants, log-amount offset, share of card-not-present sales
_CATEGORIES = (
    ("grocery", 0.14, -0.3, 0.05),
    ("restaurants", 0.13, -0.2, 0.10),
    ("fuel", 0.07, 0.0, 0.0),
    ("pharmacy", 0.05, -0.4, 0.10),
    ("clothing", 0.08, 0.3, 0.40),
    ("department_stores", 0.05, 0.3, 0.30),
    ("electronics", 0.04, 1.0, 0.50),
    ("jewelry", 0.02, 1.2, 0.20),
    ("airlines", 0.02, 1.5, 0.80),
    ("hotels", 0.03, 1.2, 0.60),
    ("car_rental", 0.02, 1.0, 0.60),
    ("entertainment", 0.05, 0.0, 0.50),
    ("digital_goods", 0.05, -0.5, 1.0),
    ("gift_cards", 0.02, 0.6, 0.70),
    ("money_transfer", 0.02, 1.0, 0.90),
    ("gambling", 0.02, 0.5, 0.90),
    ("utilities", 0.04, 0.5, 0.70),
    ("healthcare", 0.04, 0.6, 0.20),
    ("home_improvement", 0.05, 0.6, 0.20),
    ("subscriptions", 0.06, -0.8, 1.0),
)
_CATEGORY_NAMES = np.array([c[0] for c in _CATEGORIES], dtype=object)
_CATEGORY_SHARE = np.array([c[1] for c in _CATEGORIES])
_CATEGORY_LOG_OFFSET = np.array([c[2] for c in _CATEGORIES])
_CATEGORY_CNP_SHARE = np.array([c[3] for c in _CATEGORIES])
_RISKY_CATEGORIES = np.isin(
    _CATEGORY_NAMES,
    ["electronics", "jewelry", "digital_goods", "gift_cards", "money_transfer", "gambling"],
)

_CHANNELS = np.array(["chip", "contactless", "swipe", "online", "phone"], dtype=object)
_CHIP, _CONTACTLESS, _SWIPE, _ONLINE, _PHONE = range(5)

# Cards are issued in the US; any other country is a cross-border transaction.
_COUNTRIES = np.array(
    ["US", "CA", "MX", "GB", "DE", "FR", "ES", "IT", "NL", "BR", "IN", "CN", "JP", "NG", "PH"],
    dtype=object,
)
_HOME = 0
_FOREIGN_SHARE = np.array([0.22, 0.18, 0.12, 0.08, 0.07, 0.06, 0.05, 0.04, 0.04, 0.04])
_FOREIGN_SHARE = np.concatenate([_FOREIGN_SHARE, [0.03, 0.03, 0.02, 0.02]])

#: Columns of the output, in order.
_COLUMNS = (
    "transaction_id",
    "timestamp",
    "hour",
    "customer_id",
    "merchant_id",
    "merchant_category",
    "channel",
    "country",
    "amount",
    "account_age_days",
    "cust_txn_count_24h",
    "cust_txn_count_7d",
    "cust_txn_count_30d",
    "cust_amount_sum_7d",
    "cust_amount_avg_30d",
    "hours_since_last_txn",
    "cust_merchant_txn_count",
    "is_fraud",
)
_STRING_COLUMNS = ("customer_id", "merchant_id", "merchant_category", "channel", "country")


@dataclass(frozen=True)
class _World:
    """Customers, merchants and fraud parameters shared by every block."""

    n_rows: int
    drift: float
    entropy: int
    customer_cdf: np.ndarray
    customer_log_amount: np.ndarray
    customer_rate: np.ndarray
    customer_tenure_days: np.ndarray
    customer_cnp_affinity: np.ndarray
    customer_ids: np.ndarray
    merchant_cdf: np.ndarray
    merchant_category: np.ndarray
    merchant_country: np.ndarray
    merchant_ids: np.ndarray
    intercept: float = 0.0


def _check_int(value: object, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _entropy(random_state: int | np.random.Generator | np.random.RandomState | None) -> int:
    """Turn ``random_state`` into the integer seed of every random stream."""
    if random_state is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**63))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int64).max, dtype=np.int64))
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative integer, got {random_state}.")
        return int(random_state)
    raise ValueError(
        "random_state must be None, a non-negative int, a numpy Generator or a RandomState, "
        f"got {random_state!r}."
    )


def _rng(entropy: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=key))


def _id_strings(prefix: str, n: int) -> np.ndarray:
    width = len(str(n - 1))
    return np.array([f"{prefix}{i:0{width}d}" for i in range(n)], dtype=object)


def _make_world(
    n_rows: int, drift: float, n_customers: int, n_merchants: int, entropy: int
) -> _World:
    rng = _rng(entropy, 0)
    # Customers: daily activity rate (heavy tailed), typical log-amount, tenure at the
    # start of the period (10% opened their account within the last two months) and
    # taste for card-not-present shopping.
    rate = rng.lognormal(np.log(0.4), 1.0, n_customers)
    log_amount = rng.normal(3.4, 0.6, n_customers)
    tenure = np.where(
        rng.random(n_customers) < 0.1,
        rng.integers(0, 60, n_customers),
        60 + rng.exponential(1200, n_customers).astype(np.int64),
    )
    cnp_affinity = rng.uniform(0.4, 1.6, n_customers)
    # Merchants: Zipf-like popularity, a category and (for e-commerce) a country.
    popularity = 1.0 / (rng.permutation(n_merchants) + 10.0) ** 1.1
    category = rng.choice(len(_CATEGORIES), n_merchants, p=_CATEGORY_SHARE / _CATEGORY_SHARE.sum())
    country = np.where(
        rng.random(n_merchants) < 0.85,
        _HOME,
        1 + rng.choice(len(_FOREIGN_SHARE), n_merchants, p=_FOREIGN_SHARE),
    )
    world = _World(
        n_rows=n_rows,
        drift=drift,
        entropy=entropy,
        customer_cdf=np.cumsum(rate) / rate.sum(),
        customer_log_amount=log_amount,
        customer_rate=rate,
        customer_tenure_days=tenure,
        customer_cnp_affinity=cnp_affinity,
        customer_ids=_id_strings("C", n_customers),
        merchant_cdf=np.cumsum(popularity) / popularity.sum(),
        merchant_category=category.astype(np.int8),
        merchant_country=country.astype(np.int8),
        merchant_ids=_id_strings("M", n_merchants),
    )
    return world


def _calibrate_intercept(world: _World, fraud_rate: float) -> float:
    """Intercept that makes the mean fraud probability equal ``fraud_rate``.

    Solved on a pilot sample spread over the whole period, drawn from its own
    random stream, so it depends on the seed and parameters but not on chunking.
    """
    rng = _rng(world.entropy, 1)
    position = np.sort(rng.random(_PILOT_ROWS))
    logit = _simulate(world, position, rng)["logit"]
    low, high = -30.0, 30.0
    for _ in range(60):
        mid = (low + high) / 2
        if np.mean(_sigmoid(mid + logit)) < fraud_rate:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _seconds_since_start(position: np.ndarray) -> np.ndarray:
    """Map positions in [0, 1) to seconds, following the daily volume curve.

    The inverse of the cumulative intensity: ``position`` increases with the row
    number, so the timestamps do too, and busy hours get more rows.
    """
    days = position * _N_DAYS
    day = np.floor(days)
    cumulative = np.concatenate([[0.0], np.cumsum(_HOUR_WEIGHTS)]) / _HOUR_WEIGHTS.sum()
    hour = np.clip(np.searchsorted(cumulative, days - day, side="right") - 1, 0, 23)
    within_hour = (days - day - cumulative[hour]) / (cumulative[hour + 1] - cumulative[hour])
    return day * _SECONDS_PER_DAY + (hour + within_hour) * 3600.0


def _simulate(world: _World, position: np.ndarray, rng: np.random.Generator) -> dict:
    """Simulate one transaction per entry of ``position`` (time in [0, 1))."""
    n = position.size
    shift = world.drift * position  # 0 at the start, ``drift`` at the end of the period

    seconds = _seconds_since_start(position)
    hour = ((seconds // 3600) % 24).astype(np.int8)
    timestamp = _START + (seconds * 1e6).astype("timedelta64[us]")

    customer = np.searchsorted(world.customer_cdf, rng.random(n), side="right")
    customer = np.minimum(customer, world.customer_cdf.size - 1)
    merchant = np.searchsorted(world.merchant_cdf, rng.random(n), side="right")
    merchant = np.minimum(merchant, world.merchant_cdf.size - 1)
    category = world.merchant_category[merchant]

    # Channel: card-not-present share grows with drift, contactless replaces chip.
    cnp_share = _CATEGORY_CNP_SHARE[category] * world.customer_cnp_affinity[customer]
    cnp = rng.random(n) < np.clip(cnp_share * (1.0 + shift), 0.0, 0.98)
    u = rng.random(n)
    contactless = 0.4 + 0.3 * shift
    channel = np.where(
        cnp,
        np.where(u < 0.9, _ONLINE, _PHONE),
        np.where(u < contactless, _CONTACTLESS, np.where(u < contactless + 0.1, _SWIPE, _CHIP)),
    ).astype(np.int8)

    # Country: e-commerce happens where the merchant is; card-present abroad on trips.
    travel = rng.random(n) < 0.03
    abroad = 1 + rng.choice(_FOREIGN_SHARE.size, n, p=_FOREIGN_SHARE)
    country = np.where(cnp, world.merchant_country[merchant], np.where(travel, abroad, _HOME))
    country = np.where(cnp & (rng.random(n) < 0.03), -1, country).astype(np.int8)

    # Amount: log-normal around the customer's level for the category (inflation
    # with drift); a few card-not-present rows are tiny card-testing amounts.
    expected = world.customer_log_amount[customer] + _CATEGORY_LOG_OFFSET[category] + 0.3 * shift
    card_testing = cnp & (rng.random(n) < 0.01)
    amount = np.where(
        card_testing,
        rng.uniform(0.5, 2.0, n),
        np.exp(expected + _AMOUNT_SIGMA * rng.standard_normal(n)),
    )
    amount = np.maximum(np.round(amount, 2), 0.01)

    # History from the customer's latent rate over the part of each window since
    # the account opened: 24h <= 7d <= 30d by construction, plus a burst of extra
    # recent transactions for a few rows (velocity).
    account_age = world.customer_tenure_days[customer] + (seconds // _SECONDS_PER_DAY)
    days_30 = np.minimum(account_age + 1.0, 30.0)
    days_7 = np.minimum(account_age + 1.0, 7.0)
    count_30d = rng.poisson(world.customer_rate[customer] * days_30)
    count_7d = rng.binomial(count_30d, days_7 / days_30)
    count_24h = rng.binomial(count_7d, 1.0 / days_7)
    burst = np.where(rng.random(n) < 0.02, 1 + rng.poisson(4.0, n), 0)
    count_24h, count_7d, count_30d = count_24h + burst, count_7d + burst, count_30d + burst
    typical = np.exp(world.customer_log_amount[customer] + 0.5 * _AMOUNT_SIGMA**2)
    sum_7d = _sum_of_amounts(count_7d, typical, rng)
    sum_30d = sum_7d + _sum_of_amounts(count_30d - count_7d, typical, rng)
    with np.errstate(invalid="ignore", divide="ignore"):
        avg_30d = np.where(count_30d > 0, np.round(sum_30d / count_30d, 2), np.nan)
    hours_since_last = _hours_since_last(count_24h, count_7d, count_30d, rng)

    new_merchant = rng.random(n) < np.where(cnp, 0.35, 0.15)
    merchant_count = np.where(new_merchant, 0, rng.geometric(0.15, n))

    # Fraud log-odds: near-zero main effects and large conjunctions of observable
    # conditions, which an additive model cannot represent. With drift the
    # night-time big-amount pattern fades and the online velocity pattern grows.
    with np.errstate(invalid="ignore", divide="ignore"):
        big = np.where(count_30d > 0, amount > 3.0 * avg_30d, amount > 150.0)
    night = (hour < 5) | (hour >= 22)
    risky = _RISKY_CATEGORIES[category]
    foreign = country != _HOME  # a missing country counts as foreign
    velocity = count_24h >= 5
    young = account_age < 60
    tiny = cnp & (amount < 2.0)
    logit = (
        0.1 * (risky.astype(float) + new_merchant + cnp + foreign + big)
        - 0.5 * velocity
        - 0.3 * night
        + (7.0 - 3.5 * shift) * (big & night & (risky | new_merchant | cnp))
        + 6.0 * (big & risky & new_merchant)
        + (5.5 + 2.0 * shift) * (velocity & cnp & new_merchant)
        + 7.5 * (tiny & new_merchant)
        + 7.0 * (young & foreign & cnp)
    )

    return {
        "timestamp": timestamp,
        "hour": hour,
        "customer": customer,
        "merchant": merchant,
        "category": category,
        "channel": channel,
        "country": country,
        "amount": amount,
        "account_age_days": account_age.astype(np.int32),
        "cust_txn_count_24h": count_24h.astype(np.int32),
        "cust_txn_count_7d": count_7d.astype(np.int32),
        "cust_txn_count_30d": count_30d.astype(np.int32),
        "cust_amount_sum_7d": np.round(sum_7d, 2),
        "cust_amount_avg_30d": avg_30d,
        "hours_since_last_txn": hours_since_last,
        "cust_merchant_txn_count": merchant_count.astype(np.int32),
        "logit": logit,
    }


def _sum_of_amounts(count: np.ndarray, typical: np.ndarray, rng: np.random.Generator):
    """Approximate sum of ``count`` log-normal amounts (0 when ``count`` is 0)."""
    spread = _AMOUNT_SIGMA / np.sqrt(np.maximum(count, 1))
    noise = np.exp(spread * rng.standard_normal(count.size) - 0.5 * spread**2)
    return count * typical * noise


def _hours_since_last(count_24h, count_7d, count_30d, rng: np.random.Generator):
    """Hours since the latest of the customer's recent transactions.

    The latest of ``k`` uniform times in a window ``(a, b)`` hours ago is at
    ``a + (b - a) * (1 - U ** (1 / k))``; NaN when nothing happened in 30 days.
    """
    u = rng.random(count_30d.size)
    with np.errstate(divide="ignore"):
        windows = [(count_24h, 0.0, 24.0), (count_7d, 24.0, 168.0), (count_30d, 168.0, 720.0)]
        hours = np.full(count_30d.size, np.nan)
        for count, start, stop in reversed(windows):
            latest = start + (stop - start) * (1.0 - u ** (1.0 / np.maximum(count, 1)))
            hours = np.where(count > 0, latest, hours)
    return np.round(hours, 2)


def _block(world: _World, index: int) -> dict:
    """Rows ``[index * _BLOCK_ROWS, (index + 1) * _BLOCK_ROWS)`` from their own stream."""
    rng = _rng(world.entropy, 2, index)
    row = np.arange(index * _BLOCK_ROWS, (index + 1) * _BLOCK_ROWS, dtype=np.int64)
    position = (row + rng.random(_BLOCK_ROWS)) / world.n_rows
    columns = _simulate(world, position, rng)
    probability = _sigmoid(world.intercept + columns.pop("logit"))
    columns["is_fraud"] = (rng.random(_BLOCK_ROWS) < probability).astype(np.int8)
    columns["transaction_id"] = row
    return columns


def _rows(world: _World, start: int, stop: int) -> dict[str, np.ndarray]:
    """Columns of rows ``[start, stop)`` as numpy arrays (strings as object arrays)."""
    first, last = start // _BLOCK_ROWS, (stop - 1) // _BLOCK_ROWS
    blocks = [_block(world, index) for index in range(first, last + 1)]
    offset = start - first * _BLOCK_ROWS
    raw = {
        name: np.concatenate([block[name] for block in blocks])[offset : offset + stop - start]
        for name in blocks[0]
    }
    country_levels = np.append(_COUNTRIES, None)  # code -1 picks the trailing None
    strings = {
        "customer_id": world.customer_ids[raw.pop("customer")],
        "merchant_id": world.merchant_ids[raw.pop("merchant")],
        "merchant_category": _CATEGORY_NAMES[raw.pop("category")],
        "channel": _CHANNELS[raw.pop("channel")],
        "country": country_levels[raw.pop("country")],
    }
    return {name: strings[name] if name in strings else raw[name] for name in _COLUMNS}


def _to_frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            name: pd.Series(values, dtype="str") if name in _STRING_COLUMNS else values
            for name, values in columns.items()
        }
    )


def _write_parquet(world: _World, folder: Path, chunk_rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    for number, start in enumerate(range(0, world.n_rows, chunk_rows)):
        columns = _rows(world, start, min(start + chunk_rows, world.n_rows))
        table = pa.table(
            {
                name: pa.array(values, type=pa.string() if name in _STRING_COLUMNS else None)
                for name, values in columns.items()
            }
        )
        del columns
        pq.write_table(table, folder / f"part-{number:05d}.parquet")


def make_transactions(
    n_rows: int,
    *,
    fraud_rate: float = 0.01,
    drift: float = 0.0,
    n_customers: int | None = None,
    n_merchants: int | None = None,
    random_state: int | np.random.Generator | np.random.RandomState | None = None,
    path: str | os.PathLike | None = None,
    chunk_rows: int = 1_000_000,
    as_frame: bool = True,
) -> pd.DataFrame | dict[str, np.ndarray] | Path:
    """Generate synthetic card transactions with a binary fraud target.

    A stream of card transactions over one year (2024), in time order, for a
    card issuer in the US. The fraud log-odds have small main effects and
    large interactions (a big amount at night in a risky category or at a new
    merchant; a velocity burst online at a new merchant; tiny card-testing
    amounts at a new merchant; a young account buying abroad online), so a
    gradient-boosted model clearly beats a logistic regression on it.

    Rows are simulated in fixed blocks of 50,000 from independent random
    streams: the output for a seed is the same whatever ``chunk_rows`` is,
    and writing to ``path`` needs memory for one chunk only.

    Parameters
    ----------
    n_rows : int
        Number of transactions, at least 1.

    fraud_rate : float, default=0.01
        Expected share of fraud over the whole period, in (0, 0.5].

    drift : float, default=0.0
        How much the data change over the year, in [0, 1]. 0 is stationary. At
        1, by the end of the year the card-not-present share has doubled,
        contactless has grown, amounts have risen by about 35%, the night-time
        big-amount fraud pattern has lost half its log-odds weight and the
        online velocity pattern has gained a third. The fraud rate over the
        whole year stays ``fraud_rate``; the monthly rate moves.

    n_customers : int, default=None
        Number of distinct customers. None means ``max(1_000, n_rows // 50)``.

    n_merchants : int, default=None
        Number of distinct merchants. None means ``max(1_000, n_rows // 500)``.

    random_state : int, Generator, RandomState or None, default=None
        Seed. Pass an int for reproducible output.

    path : str or path-like, default=None
        If None, return the transactions in memory. Otherwise write them to
        this folder as parquet files ``part-00000.parquet``, ... of
        ``chunk_rows`` rows each (needs pyarrow) and return the folder. The
        folder is created if needed and must not already hold ``part-*.parquet``
        files.

    chunk_rows : int, default=1_000_000
        Rows per parquet file. Peak memory grows with it; the content does not.

    as_frame : bool, default=True
        If True, return a DataFrame. If False, return a dict mapping column
        names to numpy arrays (string columns as object arrays with None for
        missing values). Ignored when ``path`` is given.

    Returns
    -------
    transactions : DataFrame of shape (n_rows, 18), dict or Path
        The transactions, in time order, with columns:

        - ``transaction_id`` (int64): unique, the row number.
        - ``timestamp`` (datetime64[us]), ``hour`` (int8, 0-23).
        - ``customer_id``, ``merchant_id`` (str): high-cardinality ids.
        - ``merchant_category`` (str, 20 levels), ``channel`` (str: chip,
          contactless, swipe, online, phone), ``country`` (str, 15 ISO codes;
          missing for 3% of card-not-present rows).
        - ``amount`` (float64, >= 0.01).
        - ``account_age_days`` (int32).
        - ``cust_txn_count_24h``, ``cust_txn_count_7d``, ``cust_txn_count_30d``
          (int32): the customer's earlier transactions in each window.
        - ``cust_amount_sum_7d``, ``cust_amount_avg_30d`` (float64; the
          average is NaN when the 30-day count is 0).
        - ``hours_since_last_txn`` (float64; NaN when the 30-day count is 0).
        - ``cust_merchant_txn_count`` (int32): earlier transactions of the
          customer at this merchant, 0 for a new merchant.
        - ``is_fraud`` (int8): 1 = fraud.

        With ``path``, the folder as a :class:`pathlib.Path`.

    Raises
    ------
    ValueError
        If a parameter is out of range.
    FileExistsError
        If ``path`` already holds ``part-*.parquet`` files.

    Examples
    --------
    >>> from riskkd.datasets import make_transactions
    >>> df = make_transactions(1_000, random_state=0)
    >>> df.shape
    (1000, 18)
    >>> df["transaction_id"].is_unique, bool((df["amount"] >= 0).all())
    (True, True)
    >>> sorted(df["channel"].unique())
    ['chip', 'contactless', 'online', 'phone', 'swipe']

    Writing 10,000 rows as parquet files of 4,000 rows:

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     folder = make_transactions(10_000, random_state=0, path=tmp, chunk_rows=4_000)
    ...     sorted(p.name for p in folder.glob("*.parquet"))
    ['part-00000.parquet', 'part-00001.parquet', 'part-00002.parquet']
    """
    n_rows = _check_int(n_rows, "n_rows", minimum=1)
    chunk_rows = _check_int(chunk_rows, "chunk_rows", minimum=1)
    if not isinstance(fraud_rate, numbers.Real) or not 0 < fraud_rate <= 0.5:
        raise ValueError(f"fraud_rate must be a float in (0, 0.5], got {fraud_rate!r}.")
    if not isinstance(drift, numbers.Real) or not 0 <= drift <= 1:
        raise ValueError(f"drift must be a float in [0, 1], got {drift!r}.")
    n_customers = (
        max(1_000, n_rows // 50)
        if n_customers is None
        else _check_int(n_customers, "n_customers", minimum=1)
    )
    n_merchants = (
        max(1_000, n_rows // 500)
        if n_merchants is None
        else _check_int(n_merchants, "n_merchants", minimum=1)
    )
    folder = None
    if path is not None:
        folder = Path(path)
        existing = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
        if existing:
            raise FileExistsError(
                f"path={str(folder)!r} already holds {len(existing)} part-*.parquet files "
                f"(e.g. {existing[0].name}). Pass an empty or new folder, or delete them."
            )

    entropy = _entropy(random_state)
    world = _make_world(n_rows, float(drift), n_customers, n_merchants, entropy)
    world = replace(world, intercept=_calibrate_intercept(world, float(fraud_rate)))

    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        _write_parquet(world, folder, chunk_rows)
        return folder
    columns = _rows(world, 0, n_rows)
    return _to_frame(columns) if as_frame else columns
