"""The `cdlite` command: thin click wrappers over library functions."""
import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cdlite")
def main():
    """cdlite: watch a diffusion model memorize, distill it, measure what the student keeps."""


if __name__ == "__main__":
    main()
