#!/bin/sh
# Small copies of the web UI test's screenshots for the README: half-size desktop, 0.6x phone,
# 256-colour palettes. Run after `npx tap test/web/ui.test.ts`.
set -e
here=$(dirname "$0")
out="$here/../../docs/screenshots"
mkdir -p "$out"
for page in home upload search watch me watch-private; do
  ffmpeg -v error -y -i "$here/output/$page-desktop.png" -vf "scale=640:-1:flags=lanczos,split[a][b];[a]palettegen=max_colors=256[p];[b][p]paletteuse=dither=none" "$out/$page-desktop.png"
  ffmpeg -v error -y -i "$here/output/$page-phone.png" -vf "scale=216:-1:flags=lanczos,split[a][b];[a]palettegen=max_colors=256[p];[b][p]paletteuse=dither=none" "$out/$page-phone.png"
done
ls -l "$out"
