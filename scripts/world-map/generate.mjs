// Writes public/world.svg: the world's countries (Natural Earth 1:110m,
// public domain, from the `world-atlas` package) pre-projected on the
// equirectangular plane the request map uses (x = longitude + 180,
// y = 90 - latitude), coordinates rounded to 0.1°, one <path> a country
// named by its ISO 3166-1 alpha-2 code. Antarctica is left out, and the
// drawing is cropped to latitudes 84° N to 58° S.
//
//   cd scripts/world-map && npm ci && node generate.mjs
import { readFileSync, writeFileSync } from "node:fs";
import { feature } from "topojson-client";
import countries from "i18n-iso-countries";

const topology = JSON.parse(readFileSync("node_modules/world-atlas/countries-110m.json", "utf8"));
const world = feature(topology, topology.objects.countries);

const round = (value) => Math.round(value * 10) / 10;
const ring = (points) => {
  let d = "";
  let last = null;
  // A ring that crosses the antimeridian is drawn whole past the edge
  // (its far side falls outside the drawing) rather than across the map.
  let unwrap = 0;
  for (const [lon, lat] of points) {
    let x = round(lon + 180 + unwrap);
    const y = round(90 - lat);
    if (last && x - last[0] > 180) { unwrap -= 360; x -= 360; }
    if (last && last[0] - x > 180) { unwrap += 360; x += 360; }
    if (last && last[0] === x && last[1] === y) continue;
    if (!last) d += `M${x} ${y}`;
    else d += `l${round(x - last[0])} ${round(y - last[1])}`;
    last = [x, y];
  }
  return d + "z";
};
const polygons = (geometry) =>
  geometry.type === "Polygon" ? [geometry.coordinates] : geometry.type === "MultiPolygon" ? geometry.coordinates : [];

let paths = "";
for (const country of world.features) {
  if (!country.geometry || country.properties.name === "Antarctica") continue;
  const alpha2 = countries.numericToAlpha2(country.id) ?? "";
  const d = polygons(country.geometry).flatMap((polygon) => polygon.map(ring)).join("");
  paths += `<path data-cc="${alpha2}" d="${d.replace(/ -/g, "-")}"/>\n`;
}
const svg =
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 6 360 142" fill="#8a94a6" fill-opacity="0.35" ` +
  `stroke="#8a94a6" stroke-opacity="0.6" stroke-width="0.15">\n` +
  `<!-- Country outlines: Natural Earth 1:110m (public domain) via world-atlas (ISC); see scripts/world-map. -->\n` +
  paths + `</svg>\n`;
writeFileSync("../../public/world.svg", svg);
console.log(`public/world.svg: ${svg.length} bytes`);
