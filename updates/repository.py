"""Create and publish the signed update repository (tufup 0.10 on TUF).

    python -m updates.repository init --repo DIR --keys DIR
    python -m updates.repository publish --repo DIR --keys DIR --bundle dist/messenger --version X

The channel follows from the version: a PEP 440 pre-release (1.2.0a1) is canary, a final
release is stable. Keys live outside git (see updates/README.md). Every failure exits non-zero
(tufup's own CLI exits 0 on several failures, so it is not used).
"""

from __future__ import annotations

import argparse
import logging
import pathlib
import sys
import time

from packaging.version import Version

from messenger.client.services.updater import TarDiff

APP_NAME = "messenger"  # archive names: messenger-<version>.tar.gz, as the server expects
# tufup's defaults are root 365 / targets 7 / snapshot 7 / timestamp 1 days: a repository
# published once per release would expire between releases, so targets and snapshot live longer.
EXPIRATION_DAYS = {"root": 365, "targets": 90, "snapshot": 90, "timestamp": 30}


class PublishFailed(Exception):
    """A publish or init step that must stop the release (exit code 1)."""


def channel_of(version: str) -> str:
    """`canary` for a PEP 440 pre-release (1.2.0a1, 1.2.0rc1), `stable` for a final release."""
    return "canary" if Version(version).is_prerelease else "stable"


def _repository(repo_dir: pathlib.Path, keys_dir: pathlib.Path, expiration_days: dict | None = None):
    from tufup.repo import Repository

    class _Repository(Repository):
        # tufup keeps a config file in the *current directory*; everything it holds is given here.
        def save_config(self):
            pass

        @classmethod
        def load_config(cls) -> dict:
            return {}

    # patches in the client's format (a tar-aware diff: bsdiff over a whole 198 MB tar takes minutes)
    return _Repository(app_name=APP_NAME, repo_dir=repo_dir, keys_dir=keys_dir,
                       expiration_days=dict(expiration_days or EXPIRATION_DAYS), binary_diff=TarDiff)


def init(repo_dir: pathlib.Path, keys_dir: pathlib.Path, expiration_days: dict | None = None) -> pathlib.Path:
    """Create keys (if absent) and the signed root metadata; returns the path of root.json,
    the trust root the client bundles. Safe to run again on an existing repository."""
    repository = _repository(repo_dir, keys_dir, expiration_days)
    repository.initialize()
    root = repository.metadata_dir / "root.json"
    if not root.exists():
        raise PublishFailed(f"no root metadata was written to {root}")
    return root


def publish(repo_dir: pathlib.Path, keys_dir: pathlib.Path, bundle: pathlib.Path, version: str,
            patch: bool = True, expiration_days: dict | None = None) -> dict:
    """Add `bundle` (an onedir folder) as `version`, with a binary patch from the previous
    release, and sign. Returns `{channel, archive, patch, seconds}`; raises PublishFailed."""
    bundle = pathlib.Path(bundle)
    if not bundle.is_dir():
        raise PublishFailed(f"bundle folder {bundle} does not exist")
    parsed = Version(version)
    (bundle / "VERSION").write_text(str(parsed), encoding="utf-8")  # the installed version marker
    started = time.monotonic()
    repository = _repository(repo_dir, keys_dir, expiration_days)
    repository._load_keys_and_roles(create_keys=False)
    latest = repository.roles.get_latest_archive()
    if latest is not None and latest.version >= parsed:
        raise PublishFailed(f"version {parsed} must be newer than the latest published {latest.version}")
    archive = repository.targets_dir / f"{APP_NAME}-{parsed}.tar.gz"
    if archive.exists():
        raise PublishFailed(f"{archive} exists but is not published; remove it first")
    repository.add_bundle(new_bundle_dir=bundle, new_version=str(parsed), skip_patch=not patch)
    repository.publish_changes(private_key_dirs=[keys_dir])
    patch_file = archive.with_name(f"{APP_NAME}-{parsed}.patch")
    return {"channel": channel_of(str(parsed)), "archive": archive,
            "patch": patch_file if patch_file.exists() else None, "seconds": time.monotonic() - started}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m updates.repository", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("init", "publish"):
        command = commands.add_parser(name)
        command.add_argument("--repo", required=True, type=pathlib.Path, help="repository folder (metadata/, targets/)")
        command.add_argument("--keys", required=True, type=pathlib.Path, help="private key folder, never in git")
        if name == "publish":
            command.add_argument("--bundle", required=True, type=pathlib.Path, help="onedir bundle, e.g. dist/messenger")
            command.add_argument("--version", required=True, help="PEP 440 version; a pre-release goes to canary")
            command.add_argument("--no-patch", action="store_true", help="publish the full archive only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        if args.command == "init":
            print(f"trust root: {init(args.repo, args.keys)}")
        else:
            result = publish(args.repo, args.keys, args.bundle, args.version, patch=not args.no_patch)
            print(f"published {args.version} on {result['channel']} in {result['seconds']:.1f} s "
                  f"(patch: {result['patch'] or 'none'})")
    except Exception as exc:  # noqa: BLE001 - tufup and TUF raise many types; each must fail the release
        print(f"{args.command} failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
