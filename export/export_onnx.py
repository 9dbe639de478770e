"""Export an osdfilter checkpoint to ONNX: the same command as `osdfilter export`.

    python export/export_onnx.py MODEL.pt OUT.onnx [--chunk T] [--fp16] [--opset N]

The logic lives once, in :func:`osdfilter.model.onnx_export.export_onnx`; this script runs the
`export` subcommand of the osdfilter CLI (same options, same one-line errors and exit
codes), so this folder and the command line can never drift apart. See export/README.md.
"""

import sys

from osdfilter.cli.main import main

if __name__ == "__main__":
    main(["export", *sys.argv[1:]])
