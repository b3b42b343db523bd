"""Commands about the model and its data: train, verify, dataset, predict."""

from pathlib import Path

import click

from liquidity.commands.options import DAY, data_option, database_url_option, fail, log_to_stderr, store_url
from liquidity.dataset import DatasetError
from liquidity.paths import DATASET_DIR, PROJECT_ROOT


@click.command("train")
@data_option
@click.option("--out", type=click.Path(path_type=Path), default=PROJECT_ROOT, show_default="project root",
              help="folder for the pkls and model_card.json")
@click.option("--quick", is_flag=True, help="tiny grid, for a fast look")
@click.option("--folds", type=click.IntRange(2, 20), default=5, show_default=True, help="coin-grouped CV folds")
@click.option("--seed", type=int, default=None, help="random seed of the forest  [default: train()'s, 42]")
@click.option("--threshold", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="score at or above which the level is High  [default: train()'s, 0.5]")
@click.option("--jobs", type=int, default=-1, show_default=True, help="parallel jobs for the grid search")
@click.option("--since", type=DAY, default=None,
              help="first pair date trained on (earlier rows still feed the history features)")
@click.option("--until", type=DAY, default=None, help="last pair date trained on")
@click.option("--max-rows", type=click.IntRange(100, 10_000_000), default=None,
              help="rows sampled (seeded) for each fit  [default: TrainingConfig's, 60000]")
def train_command(data, out, quick, folds, seed, threshold, jobs, since, until, max_rows):
    """Train the model on snapshot CSVs and write the artifacts."""
    from liquidity.modeling.train import QUICK_GRID, TrainingConfig, train

    log_to_stderr()
    # Unset options keep train()'s and TrainingConfig's own defaults, so they are defined once, there.
    chosen = {name: value for name, value in (("seed", seed), ("threshold", threshold)) if value is not None}
    window = {name: f"{value:%Y-%m-%d}" for name, value in (("since", since), ("until", until)) if value is not None}
    config = TrainingConfig(**window, **({"max_rows": max_rows} if max_rows else {}))
    try:
        out.mkdir(parents=True, exist_ok=True)  # fail on an unusable --out before minutes of training
        train(list(data) or [DATASET_DIR], out, grid=QUICK_GRID if quick else None, n_folds=folds, n_jobs=jobs,
              progress=click.echo, verbose=0, config=config, **chosen)
    except (DatasetError, OSError, ValueError) as error:
        fail(error)


@click.command("verify")
@click.option("--data", "data", multiple=True, required=True, type=click.Path(path_type=Path),
              help="the snapshot files or folders the committed model was trained on (repeatable)")
@click.option("--card", type=click.Path(path_type=Path), default=None, show_default="the committed model card",
              help="model card to check")
def verify_command(data, card):
    """Check the pkls beside --card against it and retrain its verification run on --data; exit 1 on any difference."""
    from liquidity.artifacts import ArtifactError
    from liquidity.modeling.verify import verify
    from liquidity.settings import artifact_paths

    configured = artifact_paths()
    try:
        differences = verify(list(data), card, configured)
    except (ArtifactError, DatasetError, OSError) as error:
        raise click.ClickException(str(error)) from None
    if differences:
        raise click.ClickException("\n  ".join(["the model differs from its model card:", *differences]))
    click.echo(f"probe scores and the retrained verification figures match {card or configured.card}")


@click.command("dataset")
@click.argument("data", nargs=-1, required=True, type=click.Path(path_type=Path))
def dataset_command(data):
    """Summarise the snapshots at DATA (files or folders): rows, dates, drops and pairs."""
    from liquidity.dataset import load_snapshots, make_pairs

    log_to_stderr()
    try:
        snapshots = load_snapshots(list(data))
        pairs = make_pairs(snapshots.frame)
    except DatasetError as error:
        fail(error)
    click.echo(f"files: {len(snapshots.files)}  rows read: {snapshots.rows_read}  kept: {len(snapshots.frame)}")
    click.echo(f"dates: {', '.join(snapshots.dates)}  next-snapshot pairs: {len(pairs)}")
    for text, count in snapshots.dropped.most_common():
        click.echo(f"dropped {count:>5}  {text}")


@click.command("predict")
@click.argument("volume")
@click.argument("mkt_cap")
@click.argument("h1")
@click.argument("price")
@database_url_option("whose latest snapshot ranks the coin, opened read-only; without one, or an empty one, the "
                     "model card's reference snapshot")
def predict_command(volume, mkt_cap, h1, price, url):
    """Print the forecast for one coin: 24h VOLUME (USD), MKT_CAP (USD), H1 (a fraction), PRICE (USD)."""
    from liquidity.artifacts import ArtifactError
    from liquidity.modeling.predict import LiquidityModel, predict_liquidity
    from liquidity.settings import artifact_paths

    try:
        model = LiquidityModel.load(artifact_paths())
        reference, source = market_reference(model, url)
        prediction = predict_liquidity(volume, mkt_cap, h1, price, model=model, reference=reference)
    except (ValueError, ArtifactError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"liquidity score {prediction.score:.3f}  level {prediction.level}")
    click.echo(f"today's score ranked against {source}")


def market_reference(model, url):
    """Return (sorted ratios, what they are) of the market store's latest snapshot, opened read-only; (None, why)
    to rank against the model card's reference snapshot when there is no store, it is empty or cannot be read."""
    from liquidity.store import MarketStore, StoreError

    card = f"the model card's reference snapshot ({model.card['reference_snapshot'].get('date', 'no date')})"
    try:
        with MarketStore(store_url(url), read_only=True) as store:
            latest = store.latest_date()
            if latest is None:
                return None, f"{card}: the market store is empty"
            return model.reference_ratios(store.snapshot(latest)), f"the market store's latest snapshot ({latest})"
    except StoreError as error:
        return None, f"{card}: {error}"
