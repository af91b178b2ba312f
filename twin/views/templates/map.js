/* twin map: draws the data of twin.views.deck.map_data with deck.gl (inlined in the page).
   TwinMap.mount(element, data, strings) -> handle {setTime, setState, setMode, ...}. */
(function () {
  'use strict';
  var TYPES = {i1: Int8Array, i2: Int16Array, i4: Int32Array, u1: Uint8Array, u2: Uint16Array,
               u4: Uint32Array, f4: Float32Array};
  var NAN = {i1: 127, i2: 32767, i4: 2147483647, u1: 255, u2: 65535, u4: 4294967295};
  var MAGENTA = [236, 0, 140, 255];
  var TRIP_VERTEX_BUDGET = 12000;
  var NONE = [0, 0, 0, 0];
  var PAL = {
    use: {residential: [244, 190, 100], mixed: [232, 140, 90], commercial: [214, 96, 77],
          office: [110, 140, 205], retail: [222, 110, 165], industrial: [150, 130, 110],
          education: [120, 185, 110], health: [235, 80, 80], public: [160, 120, 205],
          religious: [190, 170, 120], hotel: [245, 150, 120], parking: [170, 170, 170],
          utility: [115, 115, 115], other: [205, 205, 200]},
    land_use: {residential: [250, 232, 185], mixed: [247, 218, 195], commercial: [250, 205, 205],
               industrial: [222, 212, 200], public: [225, 214, 242], green: [188, 226, 178],
               transport: [226, 226, 226], water: [178, 210, 242], brownfield: [222, 202, 168],
               other: [236, 236, 230]},
    zone_kind: {old_district: [205, 90, 30], new_zone: [25, 135, 205], other: [150, 150, 150]},
    facility_kind: {clinic: [230, 40, 60], hospital: [180, 0, 30], school: [40, 150, 60],
                    kindergarten: [110, 190, 80], service_centre: [120, 70, 200],
                    fire_station: [250, 120, 0], police: [20, 60, 160], bus_stop: [0, 150, 200],
                    library: [150, 100, 60], pharmacy: [0, 170, 140]},
    sensor_kind: {traffic_counter: [255, 150, 0], camera: [60, 60, 70],
                  air_quality: [0, 160, 120], smart_meter_gateway: [160, 60, 200]},
    highway: {motorway: [200, 60, 60], trunk: [215, 100, 60], primary: [225, 150, 60],
              secondary: [225, 190, 80], tertiary: [200, 200, 140],
              unclassified: [190, 190, 190], residential: [205, 205, 205],
              living_street: [215, 215, 215], service: [220, 220, 220], road: [200, 200, 200]},
    control: {signal: [240, 80, 40], adaptive_signal: [0, 180, 120], roundabout: [60, 110, 220],
              none: [150, 150, 150]},
    power_line_kind: {line: [200, 120, 30], cable: [205, 105, 25], transformer: [120, 50, 150],
                      'switch': [90, 90, 90]},
    power_node_kind: {substation: [130, 40, 160], transformer: [170, 90, 200],
                      bus: [200, 150, 90], generator: [240, 180, 0]},
    water_node_kind: {junction: [60, 140, 210], reservoir: [0, 70, 160], tank: [0, 110, 190]},
    water_pipe_kind: {pipe: [70, 150, 220], pump: [0, 80, 170], valve: [40, 120, 200]},
    transit_mode: {bus: [0, 120, 200], tram: [0, 160, 130], metro: [200, 40, 120],
                   rail: [90, 90, 140], ferry: [0, 150, 210]},
    source: {osm: [66, 133, 244], derived: [251, 176, 5], synthetic: [171, 71, 188],
             user: [52, 168, 83], 'import': [0, 172, 193]},
    purpose: {work: [20, 80, 255], school: [0, 185, 235], errand: [150, 50, 230],
              home: [25, 25, 70], through: [115, 115, 135], service: [200, 90, 255],
              other: [90, 90, 90]},
    change: {added: [40, 170, 80], removed: [220, 50, 50], changed: [245, 160, 0],
             unchanged: [205, 205, 205]},
    state_trips: {before: [150, 60, 225], after: [20, 20, 20]}
  };
  var RAMP_VC = [[0, [40, 167, 69]], [0.5, [160, 210, 80]], [0.8, [255, 210, 60]],
                 [1.0, [240, 110, 40]], [1.2, [190, 25, 40]]];
  var RAMP_LOAD = [[0, [160, 185, 225]], [60, [250, 200, 80]], [100, [230, 60, 30]],
                   [120, [120, 0, 40]]];
  var RAMP_SEQ = [[0, [68, 1, 84]], [0.25, [59, 82, 139]], [0.5, [33, 145, 140]],
                  [0.75, [94, 201, 98]], [1, [253, 231, 37]]];
  var RAMP_P = [[0, [215, 48, 39]], [20, [254, 224, 144]], [40, [145, 191, 219]],
                [60, [69, 117, 180]]];
  var RAMP_DIV = [[-1, [33, 102, 172]], [0, [240, 240, 240]], [1, [178, 24, 43]]];
  var FIELD_TABLE = {use: 'use', land_use: 'land_use', highway: 'highway', control: 'control',
                     mode: 'transit_mode', source: 'source'};
  var KIND_TABLE = {zones: 'zone_kind', facilities: 'facility_kind', sensors: 'sensor_kind',
                    power_lines: 'power_line_kind', power_nodes: 'power_node_kind',
                    water_nodes: 'water_node_kind', water_pipes: 'water_pipe_kind'};

  function bytes(b64) {
    var s = atob(b64), u = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) u[i] = s.charCodeAt(i);
    return u;
  }
  function raw(e) {
    var u = bytes(e.b), T = TYPES[e.t];
    return new T(u.buffer, 0, u.byteLength / T.BYTES_PER_ELEMENT);
  }
  function dec(e) {
    if (!e) return null;
    var r = raw(e), out = new Float32Array(r.length), s = e.s, nan = e.n ? NAN[e.t] : null;
    for (var i = 0; i < r.length; i++) out[i] = (nan !== null && r[i] === nan) ? NaN : r[i] * s;
    return out;
  }
  function cumsum(counts) {
    var off = new Int32Array(counts.length + 1);
    for (var i = 0; i < counts.length; i++) off[i + 1] = off[i] + counts[i];
    return off;
  }
  function col(e) {
    if (!e) return null;
    if (e.d) return {cat: true, dict: e.d, codes: raw(e.c)};
    return {cat: false, v: dec(e)};
  }
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c];
    });
  }
  function ramp(stops, x) {
    if (!(x === x)) return null;
    if (x <= stops[0][0]) return stops[0][1].slice();
    for (var i = 1; i < stops.length; i++) {
      if (x <= stops[i][0]) {
        var a = stops[i - 1], b = stops[i], k = (x - a[0]) / (b[0] - a[0]);
        return [0, 1, 2].map(function (j) { return Math.round(a[1][j] + k * (b[1][j] - a[1][j])); });
      }
    }
    return stops[stops.length - 1][1].slice();
  }
  function scaled(stops, lo, hi) {
    var a = stops[0][0], b = stops[stops.length - 1][0];
    return stops.map(function (s) { return [lo + (s[0] - a) / (b - a) * (hi - lo), s[1]]; });
  }
  function nice(x) {
    if (!(x > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(x))), m = x / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }
  function quantile(values, q) {
    var a = [];
    for (var i = 0; i < values.length; i++) if (values[i] === values[i]) a.push(values[i]);
    if (!a.length) return 0;
    a.sort(function (x, y) { return x - y; });
    return a[Math.min(a.length - 1, Math.floor(q * (a.length - 1)))];
  }
  function clock(sec) {
    var m = Math.floor(sec / 60), h = Math.floor(m / 60);
    return (h < 10 ? '0' : '') + h + ':' + (m % 60 < 10 ? '0' : '') + (m % 60);
  }

  // --- decoding ---------------------------------------------------------------------------
  function decodeLayer(name, b) {
    var L = {name: name, n: b.n, kind: b.k, cols: {}, mask: b.m ? raw(b.m) : null,
             hl: new Uint8Array(b.n), parts: []};
    Object.keys(b.c).forEach(function (k) {
      L.cols[k] = {v: col(b.c[k].v), b: col(b.c[k].b)};
    });
    if (b.hl) { var h = raw(b.hl); for (var i = 0; i < h.length; i++) L.hl[h[i]] = 1; }
    var g = b.g, xy = dec(g.xy), f, p;
    if (g.k === 'point') {
      for (f = 0; f < b.n; f++) L.parts.push({f: f, pos: [xy[2 * f], xy[2 * f + 1]]});
    } else if (g.k === 'line') {
      var pf = raw(g.pf), off = cumsum(raw(g.pv));
      for (p = 0; p < pf.length; p++) {
        L.parts.push({f: pf[p], path: xy.subarray(2 * off[p], 2 * off[p + 1])});
      }
    } else {
      var ppf = raw(g.pf), rings = cumsum(raw(g.pr)), verts = cumsum(raw(g.rv));
      for (p = 0; p < ppf.length; p++) {
        var r0 = rings[p], r1 = rings[p + 1], v0 = verts[r0], holes = [];
        for (var r = r0 + 1; r < r1; r++) holes.push(2 * (verts[r] - v0));
        var poly = {positions: xy.subarray(2 * v0, 2 * verts[r1])};
        if (holes.length) poly.holeIndices = holes;
        L.parts.push({f: ppf[p], p: poly});
      }
    }
    return L;
  }
  function simplify(xs, ys, tol) {
    var n = xs.length, mark = new Uint8Array(n), stack = [0, n - 1], keep = [];
    mark[0] = mark[n - 1] = 1;
    while (stack.length) {
      var b = stack.pop(), a = stack.pop(), best = -1, dmax = tol;
      var dx = xs[b] - xs[a], dy = ys[b] - ys[a], l2 = dx * dx + dy * dy;
      for (var i = a + 1; i < b; i++) {
        // distance to the segment a-b (not the line: a path that turns back is kept)
        var u = l2 ? Math.max(0, Math.min(1, ((xs[i] - xs[a]) * dx + (ys[i] - ys[a]) * dy) / l2)) : 0;
        var d = Math.hypot(xs[i] - xs[a] - u * dx, ys[i] - ys[a] - u * dy);
        if (d > dmax) { dmax = d; best = i; }
      }
      if (best > 0) { mark[best] = 1; stack.push(a, best, best, b); }
    }
    for (var k = 0; k < n; k++) if (mark[k]) keep.push(k);
    return keep;
  }
  function decodeTrips(tr, roads, budget) {
    if (!tr || !roads) return null;
    var first = new Int32Array(roads.n).fill(-1), p, i;
    for (p = 0; p < roads.parts.length; p++) if (first[roads.parts[p].f] < 0) first[roads.parts[p].f] = p;
    var off = cumsum(raw(tr.pl)), links = raw(tr.l), t0 = dec(tr.t0), t1 = dec(tr.t1);
    var codes = raw(tr.p.c), out = [], used = 0;
    for (i = 0; i < tr.n; i++) {
      var xs = [], ys = [];
      for (var k = off[i]; k < off[i + 1]; k++) {
        var part = first[links[k] >> 1];
        if (part < 0) continue;
        var path = roads.parts[part].path, m = path.length / 2, rev = links[k] & 1;
        for (var v = 0; v < m; v++) {
          var q = rev ? m - 1 - v : v, x = path[2 * q], y = path[2 * q + 1];
          if (xs.length && xs[xs.length - 1] === x && ys[ys.length - 1] === y) continue;
          xs.push(x); ys.push(y);
        }
      }
      if (xs.length < 2) continue;
      // distance along the path, then keep the vertices that shape it within 3 m (Ramer-
      // Douglas-Peucker): time is linear in distance, so the kept vertices' times are exact
      var n = xs.length, cum = new Float64Array(n);
      for (var j = 1; j < n; j++) cum[j] = cum[j - 1] + Math.hypot(xs[j] - xs[j - 1], ys[j] - ys[j - 1]);
      var keep = simplify(xs, ys, 3.0);
      var k2 = keep.length, pos = new Float32Array(2 * k2), ts = new Float32Array(k2);
      var total = cum[n - 1], span = t1[i] - t0[i];
      for (j = 0; j < k2; j++) {
        var q2 = keep[j];
        pos[2 * j] = xs[q2]; pos[2 * j + 1] = ys[q2];
        ts[j] = t0[i] + span * (total > 0 ? cum[q2] / total : j / (k2 - 1));
      }
      used += k2;
      if (used > budget) break;
      out.push({path: pos, ts: ts, purpose: tr.p.d[codes[i]]});
    }
    return {data: out, n: out.length, total: tr.total};
  }

  function softwareGL() {
    try {
      var gl = document.createElement('canvas').getContext('webgl2');
      if (!gl) return false;
      var ext = gl.getExtension('WEBGL_debug_renderer_info');
      var name = String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
      var lose = gl.getExtension('WEBGL_lose_context');
      if (lose) lose.loseContext();
      return /swiftshader|llvmpipe|softpipe|software/i.test(name);
    } catch (e) {
      return false;
    }
  }

  // --- the map -----------------------------------------------------------------------------
  function mount(el, data, S) {
    var meta = data.meta, states = meta.states, two = states.length > 1;
    var L = {}, order = Object.keys(data.layers);
    order.forEach(function (k) { L[k] = decodeLayer(k, data.layers[k]); });
    var dyn = {};
    Object.keys(data.dyn || {}).forEach(function (k) {
      dyn[k] = {};
      Object.keys(data.dyn[k]).forEach(function (s) { dyn[k][s] = dec(data.dyn[k][s]); });
    });
    // software WebGL (SwiftShader) pays ~0.1 ms per path vertex and frame: keep the trips
    // to a vertex budget there (a random sample already; the legend says how many are shown)
    var soft = softwareGL();
    var trips = {};
    Object.keys(data.trips || {}).forEach(function (s) {
      var tr = decodeTrips(data.trips[s], L.roads, soft ? TRIP_VERTEX_BUDGET : Infinity);
      if (tr && tr.n) trips[s] = tr;
    });
    var hours = meta.hours;
    var ui = {state: two ? 'after' : states[0], time: meta.time || 8 * 3600, mode: 'use',
              playing: false, rev: 0, visible: {}};
    var hasDyn = function (k, layer) { return dyn[k] && L[layer]; };
    ['zones', 'buildings', 'roads', 'road_nodes', 'facilities', 'sensors'].forEach(function (k) {
      ui.visible[k] = true;
    });
    ui.visible.transit_routes = false;
    ui.visible.power_lines = !!hasDyn('loading', 'power_lines');
    ui.visible.power_nodes = !!hasDyn('loading', 'power_lines');
    ui.visible.water_nodes = !!hasDyn('pressure', 'water_nodes');
    ui.visible.water_pipes = false;
    ui.visible.trips = true;
    ui.visible.highlight = true;

    // values ------------------------------------------------------------------------------
    function present(layer, s, f) {
      if (!layer.mask) return true;
      var m = layer.mask[f];
      if (s === 'before') return (m & 1) > 0;
      if (s === 'after') return (m & 2) > 0;
      return m > 0;
    }
    function pick(c, s) { return (s === 'before' && c.b) ? c.b : c.v; }
    function val(layer, name, s, f) {
      var c = layer.cols[name];
      if (!c) return null;
      var k = pick(c, s);
      if (k.cat) { var v = k.dict[k.codes[f]]; return v === '' ? null : v; }
      var x = k.v[f];
      return x === x ? x : null;
    }
    function num(layer, name, s, f) { var v = val(layer, name, s, f); return v === null ? NaN : +v; }
    function hourIdx() {
      if (!hours) return -1;
      var h = Math.floor(ui.time / 3600);
      return Math.max(hours[0], Math.min(hours[1] - 1, h)) - hours[0];
    }
    function dynVal(key, s, f, n) {
      var a = dyn[key] && dyn[key][s];
      if (!a) return NaN;
      var h = key === 'vc' || key === 'volume' ? hourIdx() : Math.floor(ui.time / 3600) % 24;
      if (h < 0) return NaN;
      return a[h * n + f];
    }
    function label(table, v) {
      var k = 'v_' + table + '_' + v;
      return S[k] !== undefined ? S[k] : String(v);
    }
    function tableOf(layer, field) {
      if (field === 'kind') return KIND_TABLE[layer];
      if (/_source$/.test(field)) return 'source';
      return FIELD_TABLE[field];
    }

    // colours -----------------------------------------------------------------------------
    function colorArray(layer, fn) {
      var out = new Uint8Array(layer.n * 4);
      for (var f = 0; f < layer.n; f++) {
        var c = fn(f) || NONE;
        out[4 * f] = c[0]; out[4 * f + 1] = c[1]; out[4 * f + 2] = c[2];
        out[4 * f + 3] = c.length > 3 ? c[3] : 255;
      }
      return out;
    }
    function withAlpha(c, a) { return c ? [c[0], c[1], c[2], a] : null; }
    var legends = {};

    function changeOf(layer, f) {
      var m = layer.mask ? layer.mask[f] : 3;
      if (m === 1) return 'removed';
      if (m === 2) return 'added';
      var names = Object.keys(layer.cols);
      for (var i = 0; i < names.length; i++) {
        var c = layer.cols[names[i]];
        if (c.b && String(val(layer, names[i], 'before', f)) !== String(val(layer, names[i], 'after', f))) {
          return 'changed';
        }
      }
      return 'unchanged';
    }
    function numericDomain(fn, n, diff) {
      var v = new Float32Array(n);
      for (var f = 0; f < n; f++) v[f] = diff ? Math.abs(fn(f)) : fn(f);
      return nice(quantile(v, 0.98));
    }
    function buildingColors() {
      var B = L.buildings, s = ui.state, mode = ui.mode;
      if (!B) return null;
      var diff = s === 'diff';
      var getter = null, unit = '';
      if (mode === 'power') {
        getter = function (st, f) { return dynVal('kw', st, f, B.n); };
        unit = S.mode_power;
      } else if (mode === 'height_m' || mode === 'residents' || mode === 'jobs') {
        getter = function (st, f) { return num(B, mode, st, f); };
        unit = S['mode_' + mode];
      }
      if (diff && !getter) {
        legends.buildings = {title: S.change, cats: Object.keys(PAL.change).map(function (k) {
          return [S[k], PAL.change[k]]; })};
        return colorArray(B, function (f) {
          var c = changeOf(B, f);
          return withAlpha(PAL.change[c], c === 'removed' ? 140 : 255);
        });
      }
      if (getter) {
        if (diff) {
          var dv = function (f) {
            var a = getter('after', f), b = getter('before', f);
            return (a === a ? a : 0) - (b === b ? b : 0);
          };
          var m = numericDomain(dv, B.n, true), st = scaled(RAMP_DIV, -m, m);
          legends.buildings = {title: S.change + ': ' + unit, ramp: st, lo: -m, hi: m};
          return colorArray(B, function (f) { return present(B, 'diff', f) ? ramp(st, dv(f)) : null; });
        }
        var hi = numericDomain(function (f) { return present(B, s, f) ? getter(s, f) : NaN; }, B.n);
        var sq = scaled(RAMP_SEQ, 0, hi);
        legends.buildings = {title: unit, ramp: sq, lo: 0, hi: hi};
        return colorArray(B, function (f) {
          if (!present(B, s, f)) return null;
          return ramp(sq, getter(s, f)) || [200, 200, 200];
        });
      }
      var field = mode === 'height_source' ? 'height_m_source' : 'use';
      var table = field === 'use' ? 'use' : 'source', pal = PAL[table], seen = {};
      var out = colorArray(B, function (f) {
        if (!present(B, s, f)) return null;
        var v = val(B, field, s, f);
        seen[v] = 1;
        return pal[v] || [205, 205, 200];
      });
      legends.buildings = {title: S[mode === 'height_source' ? 'mode_height_source' : 'mode_use'],
        cats: Object.keys(pal).filter(function (k) { return seen[k]; }).map(function (k) {
          return [label(table, k), pal[k]]; })};
      return out;
    }
    function elevations() {
      var B = L.buildings, out = new Float32Array(B ? B.n : 0);
      for (var f = 0; f < out.length; f++) {
        var s = ui.state;
        if (s === 'diff') {
          var a = num(B, 'height_m', 'after', f), b = num(B, 'height_m', 'before', f);
          out[f] = Math.max(a === a ? a : 0, b === b ? b : 0);
        } else {
          out[f] = present(B, s, f) ? (num(B, 'height_m', s, f) || 3) : 0;
        }
      }
      return out;
    }
    // Geometry drawn as plain triangles: software WebGL (SwiftShader) pays per instance, so
    // lines become flat ribbons and buildings roofs plus wall quads instead of deck.gl's
    // instanced paths and extrusions (several times faster there, the same on a GPU).
    var ribbonCache = {};
    // quads along paths (flat XY arrays); z given: XYZ quads at that height
    function quads(paths, widthOf, out) {
      paths.forEach(function (d) {
        var p = d.path, n = p.length / 2, w = widthOf(d.f) / 2, z = d.z;
        for (var i = 0; i + 1 < n; i++) {
          var x0 = p[2 * i], y0 = p[2 * i + 1], x1 = p[2 * i + 2], y1 = p[2 * i + 3];
          var dx = x1 - x0, dy = y1 - y0, len = Math.hypot(dx, dy);
          if (!len) continue;
          var ux = dx / len * w, uy = dy / len * w;
          var c = [x0 - ux * 0.5 - uy, y0 - uy * 0.5 + ux, x1 + ux * 0.5 - uy, y1 + uy * 0.5 + ux,
                   x1 + ux * 0.5 + uy, y1 + uy * 0.5 - ux, x0 - ux * 0.5 + uy, y0 - uy * 0.5 - ux];
          out.push({f: d.f, p: z === undefined ? new Float32Array(c) : new Float32Array([
            c[0], c[1], z, c[2], c[3], z, c[4], c[5], z, c[6], c[7], z])});
        }
      });
      return out;
    }
    function ribbons(name, widthOf, only) {
      var key = name + (only ? ':hl' : '');
      if (!ribbonCache[key]) {
        var layer = L[name];
        ribbonCache[key] = quads(layer.parts.filter(function (d) {
          return !only || layer.hl[d.f]; }), widthOf, []);
      }
      return ribbonCache[key];
    }
    // the rings of polygon parts as closed paths (optionally at a height per feature)
    function ringPaths(parts, zOf) {
      var out = [];
      parts.forEach(function (d) {
        var pos = d.p.positions, n = pos.length / 2, holes = d.p.holeIndices || [];
        var starts = [0].concat(holes.map(function (x) { return x / 2; })).concat([n]);
        for (var r = 0; r + 1 < starts.length; r++) {
          var a = starts[r], b = starts[r + 1], path = new Float32Array(2 * (b - a + 1));
          path.set(pos.subarray(2 * a, 2 * b));
          path[2 * (b - a)] = pos[2 * a]; path[2 * (b - a) + 1] = pos[2 * a + 1];
          out.push({f: d.f, path: path, z: zOf ? zOf(d.f) : undefined});
        }
      });
      return out;
    }
    var extent = (function () {
      var b = meta.bounds, k = 40075016.68557849 / 360;
      return Math.hypot((b[2] - b[0]) * k * Math.cos(meta.origin[1] * Math.PI / 180),
                        (b[3] - b[1]) * k);
    })();
    var meshCache = {};
    function buildingMesh(elev, key) {
      if (meshCache.key === key) return meshCache.data;
      var B = L.buildings, out = [], lx = -0.45, ly = -0.89;
      B.parts.forEach(function (d) {
        var h = elev[d.f];
        if (!(h > 0)) return;
        var pos = d.p.positions, holes = d.p.holeIndices || [], n = pos.length / 2;
        var roof = new Float32Array(3 * n);
        for (var v = 0; v < n; v++) {
          roof[3 * v] = pos[2 * v]; roof[3 * v + 1] = pos[2 * v + 1]; roof[3 * v + 2] = h;
        }
        out.push({f: d.f, sh: 1, p: holes.length ?
          {positions: roof, holeIndices: holes.map(function (x) { return x / 2 * 3; })} : roof});
        var starts = [0].concat(holes.map(function (x) { return x / 2; })).concat([n]);
        for (var r = 0; r + 1 < starts.length; r++) {
          var a0 = starts[r], a1 = starts[r + 1], area = 0, k;
          for (k = a0; k < a1; k++) {
            var k1 = k + 1 < a1 ? k + 1 : a0;
            area += pos[2 * k] * pos[2 * k1 + 1] - pos[2 * k1] * pos[2 * k + 1];
          }
          var sign = (area > 0 ? 1 : -1) * (r === 0 ? 1 : -1);
          for (k = a0; k < a1; k++) {
            var j = k + 1 < a1 ? k + 1 : a0;
            var x0 = pos[2 * k], y0 = pos[2 * k + 1], x1 = pos[2 * j], y1 = pos[2 * j + 1];
            var len = Math.hypot(x1 - x0, y1 - y0);
            if (!len) continue;
            var nx = sign * (y1 - y0) / len, ny = -sign * (x1 - x0) / len;
            out.push({f: d.f, sh: 0.48 + 0.32 * (0.5 + 0.5 * (nx * lx + ny * ly)),
                      p: new Float32Array([x0, y0, 0, x1, y1, 0, x1, y1, h, x0, y0, h])});
          }
        }
      });
      meshCache = {key: key, data: out};
      return out;
    }
    function shade(c, f, sh) {
      var i = 4 * f;
      return [c[i] * sh, c[i + 1] * sh, c[i + 2] * sh, c[i + 3]];
    }
    function roadWidth(f) {
      var R = L.roads;
      var lanes = num(R, 'lanes', 'after', f) || 1, one = val(R, 'oneway', 'after', f) === 'true';
      return Math.max(5, Math.min(30, lanes * (one ? 1 : 2) * 3.2));
    }
    function catColors(name, field, table, alpha) {
      var layer = L[name], pal = PAL[table], s = ui.state, seen = {};
      var out = colorArray(layer, function (f) {
        if (!present(layer, s, f)) return null;
        var v = val(layer, field, s === 'diff' ? 'after' : s, f);
        if (v === null) v = val(layer, field, 'before', f);
        seen[v] = 1;
        return withAlpha(pal[v] || [160, 160, 160], alpha);
      });
      legends[name] = {title: layerTitle(name), cats: Object.keys(pal).filter(function (k) {
        return seen[k]; }).map(function (k) { return [label(table, k), pal[k]]; })};
      return out;
    }
    function dynColors(name, key, stops, title, diffTitle, diffMax, fallback) {
      var layer = L[name], s = ui.state;
      if (!dyn[key] || !L[name]) return fallback();
      if (s === 'diff') {
        if (!dyn[key].before || !dyn[key].after) return fallback();
        var st = scaled(RAMP_DIV, -diffMax, diffMax);
        legends[name] = {title: diffTitle, ramp: st, lo: -diffMax, hi: diffMax};
        return colorArray(layer, function (f) {
          var d = dynVal(key, 'after', f, layer.n) - dynVal(key, 'before', f, layer.n);
          if (!present(layer, 'diff', f)) return null;
          return ramp(st, d) || [150, 150, 150];
        });
      }
      if (!dyn[key][s]) return fallback();
      legends[name] = {title: title, ramp: stops, lo: stops[0][0], hi: stops[stops.length - 1][0]};
      return colorArray(layer, function (f) {
        if (!present(layer, s, f)) return null;
        return ramp(stops, dynVal(key, s, f, layer.n)) || [170, 170, 170];
      });
    }

    // UI --------------------------------------------------------------------------------------
    function layerTitle(name) { return (meta.titles && meta.titles[name]) || name; }
    el.innerHTML = '';
    var canvasBox = document.createElement('div');
    canvasBox.className = 'twin-canvas';
    el.appendChild(canvasBox);
    var panel = document.createElement('div');
    panel.className = 'twin-panel';
    el.appendChild(panel);
    var legendBox = document.createElement('div');
    legendBox.className = 'twin-legend';
    el.appendChild(legendBox);
    var credit = document.createElement('div');
    credit.className = 'twin-credit';
    credit.textContent = (meta.credits || []).map(function (c) {
      return /OpenStreetMap/.test(c) ? S.osm_credit : c; }).join(' · ');
    el.appendChild(credit);

    var h = '<h1 class="twin-title">' + esc(meta.title) + '</h1>';
    if (meta.description) h += '<p class="twin-desc">' + esc(meta.description) + '</p>';
    if (meta.interventions && meta.interventions.length) {
      h += '<p class="twin-int"><span class="twin-hl-swatch"></span>' + esc(S.intervention) +
           ': ' + meta.interventions.map(esc).join('; ') + '</p>';
    }
    if (two) {
      h += '<div class="twin-states" role="group" aria-label="' + esc(S.view_state) + '">';
      ['before', 'after', 'diff'].forEach(function (s) {
        h += '<button type="button" data-state="' + s + '" title="' +
             esc(s === 'diff' ? S.difference : meta.labels[s]) + '">' +
             esc(s === 'diff' ? S.difference : S[s]) + '</button>';
      });
      h += '</div><p class="twin-sub">' + esc(S.before) + ': ' + esc(meta.labels.before) +
           '<br>' + esc(S.after) + ': ' + esc(meta.labels.after) + '</p>';
    } else if (meta.layers_only) {
      h += '<p class="twin-sub">' + esc(S.layers_only) + '</p>';
    } else {
      h += '<p class="twin-sub">' + esc(meta.labels[states[0]]) + '</p>';
    }
    if (hours) {
      h += '<div class="twin-time"><button type="button" class="twin-play">' + esc(S.play) +
           '</button><input type="range" class="twin-slider" aria-label="' + esc(S.time) +
           '" min="' + hours[0] * 3600 + '" max="' + (hours[1] * 3600 - 60) + '" step="60" value="' +
           ui.time + '"><span class="twin-clock"></span></div>';
    }
    if (L.buildings) {
      var modes = ['use', 'height_m', 'residents', 'jobs'];
      if (dyn.kw) modes.push('power');
      if (L.buildings.cols.height_m_source) modes.push('height_source');
      h += '<label class="twin-row">' + esc(S.colour_by) + ' <select class="twin-mode">' +
           modes.map(function (m) {
             return '<option value="' + m + '">' + esc(S['mode_' + m]) + '</option>';
           }).join('') + '</select></label>';
    }
    h += '<details class="twin-layers"><summary>' + esc(S.layers) + '</summary>';
    var toggles = order.slice();
    if (Object.keys(trips).length) toggles.push('trips');
    toggles.push('highlight');
    toggles.forEach(function (k) {
      var t = k === 'trips' ? S.trips_layer : k === 'highlight' ? S.highlighted : layerTitle(k);
      h += '<label class="twin-row"><input type="checkbox" data-layer="' + k + '"' +
           (ui.visible[k] ? ' checked' : '') + '> ' + esc(t) + '</label>';
    });
    h += '</details>';
    var prov = meta.provenance || {};
    if (Object.keys(prov).length) {
      h += '<details class="twin-prov"><summary>' + esc(S.data_sources) + '</summary><table>';
      Object.keys(prov).forEach(function (k) {
        h += '<tr><td>' + esc(layerTitle(k)) + '</td><td>' + Object.keys(prov[k]).map(function (s) {
          return esc(label('source', s)) + ' ' + prov[k][s]; }).join(', ') + '</td></tr>';
      });
      h += '</table>' + (meta.sources || []).map(function (s) {
        return '<p>' + esc(s.name || '') + (s.licence ? ' (' + esc(s.licence) + ')' : '') +
               (s.note ? ': ' + esc(s.note) : '') + '</p>'; }).join('') + '</details>';
    }
    panel.innerHTML = h;

    // layers --------------------------------------------------------------------------------
    var common = {coordinateSystem: deck.COORDINATE_SYSTEM.METER_OFFSETS,
                  coordinateOrigin: [meta.origin[0], meta.origin[1], 0]};
    function P(props) { return Object.assign({}, common, props); }
    function hlParts(layer) { return layer.parts.filter(function (d) { return layer.hl[d.f]; }); }
    function buildLayers() {
      legends = {};
      var out = [], rev = ui.rev, s = ui.state, vis = ui.visible, trig = {all: rev};
      var T = {getFillColor: rev, getLineColor: rev, getColor: rev, getElevation: rev,
               getWidth: rev, getLineWidth: rev, getRadius: rev};
      if (L.zones && vis.zones) {
        var zf = catColors('zones', 'land_use', 'land_use', 90);
        legends.zones = {title: S.zone_land_use, cats: legends.zones.cats};
        var kinds = {};
        var zl = colorArray(L.zones, function (f) {
          if (!present(L.zones, s, f)) return null;
          var k = val(L.zones, 'kind', s === 'diff' ? 'after' : s, f) || 'other';
          kinds[k] = 1;
          return PAL.zone_kind[k];
        });
        legends.zone_kind = {title: S.zone_kind, cats: Object.keys(PAL.zone_kind).filter(
          function (k) { return kinds[k]; }).map(function (k) {
            return [label('zone_kind', k), PAL.zone_kind[k]]; }), line: true};
        out.push(new deck.SolidPolygonLayer(P({id: 'zones', data: L.zones.parts,
          positionFormat: 'XY', getPolygon: function (d) { return d.p; },
          getFillColor: function (d) { return zf.subarray(4 * d.f, 4 * d.f + 4); },
          pickable: true, updateTriggers: T})));
        if (!ribbonCache.zoneLines) {
          ribbonCache.zoneLines = quads(ringPaths(L.zones.parts), function (f) {
            var k = val(L.zones, 'kind', 'after', f);
            return extent / (k === 'old_district' || k === 'new_zone' ? 350 : 1400);
          }, []);
        }
        out.push(new deck.SolidPolygonLayer(P({id: 'zones-outline', data: ribbonCache.zoneLines,
          positionFormat: 'XY', getPolygon: function (d) { return d.p; }, _normalize: false,
          getFillColor: function (d) { return zl.subarray(4 * d.f, 4 * d.f + 4); },
          updateTriggers: T})));
      }
      if (L.water_pipes && vis.water_pipes) {
        var wp = catColors('water_pipes', 'kind', 'water_pipe_kind', 255);
        out.push(new deck.SolidPolygonLayer(P({id: 'water_pipes',
          data: ribbons('water_pipes', function () { return 2; }), positionFormat: 'XY',
          getPolygon: function (d) { return d.p; }, _normalize: false,
          getFillColor: function (d) { return wp.subarray(4 * d.f, 4 * d.f + 4); },
          pickable: true, updateTriggers: T})));
      }
      if (L.roads && vis.roads) {
        var R = L.roads;
        var rc = dynColors('roads', 'vc', RAMP_VC, S.road_vc, S.road_vc_diff, 0.5, function () {
          return catColors('roads', 'highway', 'highway', 255); });
        if (legends.roads && legends.roads.cats) legends.roads.title = S.road_class;
        if (vis.highlight && R.hl.some(function (x) { return x; })) {
          out.push(new deck.SolidPolygonLayer(P({id: 'roads-hl', positionFormat: 'XY',
            data: ribbons('roads', function (f) { return roadWidth(f) + 14; }, true),
            getPolygon: function (d) { return d.p; }, _normalize: false,
            getFillColor: MAGENTA})));
        }
        out.push(new deck.SolidPolygonLayer(P({id: 'roads', data: ribbons('roads', roadWidth),
          positionFormat: 'XY', getPolygon: function (d) { return d.p; }, _normalize: false,
          getFillColor: function (d) { return rc.subarray(4 * d.f, 4 * d.f + 4); },
          pickable: true, updateTriggers: T})));
      }
      if (L.transit_routes && (vis.transit_routes || vis.highlight)) {
        var TR = L.transit_routes, tc = catColors('transit_routes', 'mode', 'transit_mode', 200);
        var tdata = ribbons('transit_routes', function (f) { return TR.hl[f] ? 12 : 4; },
                            !vis.transit_routes);
        if (!vis.transit_routes) delete legends.transit_routes;
        if (tdata.length) {
          out.push(new deck.SolidPolygonLayer(P({id: 'transit_routes', data: tdata,
            positionFormat: 'XY', getPolygon: function (d) { return d.p; }, _normalize: false,
            getFillColor: function (d) {
              return TR.hl[d.f] && vis.highlight ? MAGENTA : tc.subarray(4 * d.f, 4 * d.f + 4); },
            pickable: true, updateTriggers: T})));
        }
      }
      if (L.power_lines && vis.power_lines) {
        var pc = dynColors('power_lines', 'loading', RAMP_LOAD, S.line_loading,
          S.line_loading_diff, 30, function () {
            return catColors('power_lines', 'kind', 'power_line_kind', 255); });
        out.push(new deck.SolidPolygonLayer(P({id: 'power_lines',
          data: ribbons('power_lines', function () { return 3; }), positionFormat: 'XY',
          getPolygon: function (d) { return d.p; }, _normalize: false,
          getFillColor: function (d) { return pc.subarray(4 * d.f, 4 * d.f + 4); },
          pickable: true, updateTriggers: T})));
      }
      if (L.buildings && vis.buildings) {
        var B = L.buildings, bc = buildingColors(), el2 = elevations();
        var mesh = buildingMesh(el2, s + ':' + (s === 'diff' ? 'd' : ''));
        out.push(new deck.SolidPolygonLayer(P({id: 'buildings', data: mesh,
          positionFormat: 'XYZ', _full3d: true, _normalize: false, material: false,
          getPolygon: function (d) { return d.p; },
          getFillColor: function (d) { return shade(bc, d.f, d.sh); },
          pickable: true, updateTriggers: T})));
        if (vis.highlight && B.hl.some(function (x) { return x; })) {
          var hp = hlParts(B), w = function () { return Math.max(1.5, extent / 900); };
          var outline = quads(ringPaths(hp, function (f) { return el2[f] + 0.3; }), w,
                              quads(ringPaths(hp, function () { return 0.3; }), w, []));
          out.push(new deck.SolidPolygonLayer(P({id: 'buildings-hl', data: outline,
            positionFormat: 'XYZ', _full3d: true, _normalize: false, material: false,
            getPolygon: function (d) { return d.p; }, getFillColor: MAGENTA,
            updateTriggers: T})));
        }
      }
      var points = [['water_nodes', 'kind', 'water_node_kind', 5],
                    ['power_nodes', 'kind', 'power_node_kind', 9],
                    ['road_nodes', 'control', 'control', 5],
                    ['sensors', 'kind', 'sensor_kind', 4],
                    ['facilities', 'kind', 'facility_kind', 12]];
      points.forEach(function (pt) {
        var name = pt[0], layer = L[name];
        if (!layer || !vis[name]) return;
        var cc = name === 'water_nodes' ?
          dynColors('water_nodes', 'pressure', RAMP_P, S.water_pressure, S.water_pressure_diff, 10,
            function () { return catColors(name, pt[1], pt[2], 255); }) :
          catColors(name, pt[1], pt[2], 255);
        out.push(new deck.ScatterplotLayer(P({id: name, data: layer.parts,
          getPosition: function (d) { return d.pos; },
          getFillColor: function (d) { return cc.subarray(4 * d.f, 4 * d.f + 4); },
          getRadius: pt[3], radiusUnits: 'meters', radiusMinPixels: name === 'facilities' ? 4 : 2,
          stroked: name === 'facilities', getLineColor: [255, 255, 255], lineWidthMinPixels: 1,
          pickable: true, updateTriggers: T})));
      });
      if (vis.highlight) {
        var rings = [];
        points.forEach(function (pt) {
          var layer = L[pt[0]];
          if (layer) hlParts(layer).forEach(function (d) { rings.push(d); });
        });
        if (rings.length) {
          out.push(new deck.ScatterplotLayer(P({id: 'points-hl', data: rings,
            getPosition: function (d) { return d.pos; }, filled: false, stroked: true,
            getLineColor: MAGENTA, getRadius: 16, radiusUnits: 'meters', radiusMinPixels: 9,
            lineWidthMinPixels: 2.5})));
        }
      }
      if (vis.trips && hours) {
        var shownStates = s === 'diff' ? ['before', 'after'] : [s];
        shownStates.forEach(function (st) {
          var tr = trips[st];
          if (!tr) return;
          out.push(new deck.TripsLayer(P({id: 'trips-' + st, data: tr.data, positionFormat: 'XY',
            getPath: function (d) { return d.path; },
            getTimestamps: function (d) { return d.ts; },
            getColor: s === 'diff' ? PAL.state_trips[st] :
              function (d) { return PAL.purpose[d.purpose] || PAL.purpose.other; },
            currentTime: ui.time, trailLength: 600, fadeTrail: true,
            widthMinPixels: s === 'diff' ? 2 : 3.5, capRounded: true, jointRounded: true,
            opacity: s === 'diff' ? 0.55 : 0.9, updateTriggers: T})));
        });
        var ts = trips[s === 'diff' ? 'after' : s];
        if (ts || s === 'diff') {
          legends.trips = s === 'diff' ?
            {title: S.trips_layer, cats: [[S.trips_before, PAL.state_trips.before],
                                          [S.trips_after, PAL.state_trips.after]], line: true} :
            {title: S.trips_layer, note: S.trips_sampled.replace('{n}', ts.n).replace('{total}', ts.total),
             cats: Object.keys(PAL.purpose).filter(function (k) {
               return ts.data.some(function (d) { return d.purpose === k; }); }).map(function (k) {
                 return [label('purpose', k), PAL.purpose[k]]; }), line: true};
        }
      }
      if (vis.highlight && order.some(function (k) { return L[k].hl.some(function (x) { return x; }); })) {
        legends.highlight = {title: S.intervention, cats: [[S.highlighted, MAGENTA]], line: true};
      }
      return out;
    }
    function fmt(v, digits) {
      if (v === null || v === undefined || !(typeof v !== 'number' || v === v)) return '–';
      if (typeof v !== 'number') return String(v);
      return v.toLocaleString(meta.lang === 'zh' ? 'zh-CN' : 'en',
        {maximumFractionDigits: digits === undefined ? 2 : digits});
    }
    function legendHtml() {
      var order2 = ['buildings', 'roads', 'trips', 'highlight', 'zones', 'zone_kind', 'power_lines',
                    'water_nodes', 'water_pipes', 'power_nodes', 'road_nodes', 'facilities',
                    'sensors', 'transit_routes'];
      var h2 = '';
      order2.forEach(function (k) {
        var g = legends[k];
        if (!g) return;
        h2 += '<div class="twin-lg" data-legend="' + k + '"><div class="twin-lg-t">' + esc(g.title) + '</div>';
        if (g.ramp) {
          var lo = g.ramp[0][0], hi = g.ramp[g.ramp.length - 1][0];
          var grad = g.ramp.map(function (st) {
            return 'rgb(' + st[1].join(',') + ') ' + ((st[0] - lo) / (hi - lo) * 100).toFixed(1) + '%';
          }).join(',');
          h2 += '<div class="twin-ramp" style="background:linear-gradient(to right,' + grad +
                ')"></div><div class="twin-ramp-l"><span>' + fmt(lo) + '</span><span>' +
                fmt((lo + hi) / 2) + '</span><span>' + fmt(hi) + '</span></div>';
        }
        (g.cats || []).forEach(function (c) {
          h2 += '<div class="twin-cat"><span class="' + (g.line ? 'twin-sw-line' : 'twin-sw') +
                '" style="background:rgb(' + c[1].slice(0, 3).join(',') + ')"></span>' +
                esc(c[0]) + '</div>';
        });
        if (g.note) h2 += '<div class="twin-note">' + esc(g.note) + '</div>';
        h2 += '</div>';
      });
      legendBox.innerHTML = '<div class="twin-lg-h">' + esc(S.legend) + '</div>' + h2;
    }

    // tooltip ----------------------------------------------------------------------------------
    function tooltip(info) {
      var o = info.object, id = info.layer && info.layer.id;
      if (!o || !id) return null;
      if (/^trips-/.test(id)) {
        return {html: '<b>' + esc(S.trips_layer) + '</b><br>' + esc(S.f_purpose) + ': ' +
                esc(label('purpose', o.purpose)), className: 'twin-tip'};
      }
      var layer = L[id];
      if (!layer || o.f === undefined) return null;
      var f = o.f, s = ui.state;
      if (!present(layer, s, f)) return null;
      var rows = [], names = Object.keys(layer.cols);
      names.forEach(function (name) {
        if (/_source$/.test(name)) return;
        var table = tableOf(id, name);
        var show = function (st) {
          var v = val(layer, name, st, f);
          if (v === null) return '–';
          return table ? label(table, v) : (typeof v === 'number' ? fmt(v) :
            (v === 'true' || v === 'false') ? label('bool', v) : v);
        };
        var text = s === 'diff' && layer.cols[name].b ?
          show('before') + ' → ' + show('after') : show(s === 'diff' ? 'after' : s);
        var src = layer.cols[name + '_source'] ? val(layer, name + '_source', s === 'diff' ? 'after' : s, f) : null;
        rows.push('<tr><td>' + esc(S['f_' + name] || name) + '</td><td>' + esc(text) +
                  (src ? ' <span class="twin-src twin-src-' + esc(src) + '">' + esc(label('source', src)) + '</span>' : '') +
                  '</td></tr>');
      });
      var dynRows = {roads: [['vc', S.value_vc, 2], ['volume', S.value_volume, 0]],
                     buildings: [['kw', S.value_power, 1]],
                     power_lines: [['loading', S.value_loading, 0]],
                     water_nodes: [['pressure', S.value_pressure, 1]]}[id] || [];
      dynRows.forEach(function (r) {
        if (!dyn[r[0]]) return;
        var one = function (st) { return fmt(dynVal(r[0], st, f, layer.n), r[2]); };
        var text = s === 'diff' ? one('before') + ' → ' + one('after') : one(s);
        rows.push('<tr><td>' + esc(r[1]) + ' (' + clock(Math.floor(ui.time / 3600) * 3600) + ')</td><td>' +
                  esc(text) + ' <span class="twin-src twin-src-sim">' + esc(S.simulated) + '</span></td></tr>');
      });
      if (s === 'diff' && layer.mask) {
        rows.unshift('<tr><td>' + esc(S.change) + '</td><td>' + esc(S[changeOf(layer, f)]) + '</td></tr>');
      }
      if (layer.hl[f]) rows.unshift('<tr><td colspan="2" class="twin-tip-hl">' + esc(S.highlighted) + '</td></tr>');
      return {html: '<b>' + esc(layerTitle(id)) + '</b><table>' + rows.join('') + '</table>',
              className: 'twin-tip'};
    }

    // deck --------------------------------------------------------------------------------------
    var b = meta.bounds, w = el.clientWidth || 1000, hgt = el.clientHeight || 700;
    var fit = new deck.WebMercatorViewport({width: w, height: hgt}).fitBounds(
      [[b[0], b[1]], [b[2], b[3]]], {padding: Math.min(60, Math.floor(Math.min(w, hgt) / 8))});
    var handle = {frames: 0, firstFrameMs: null, ready: false, errors: [], stats: {}};
    Object.keys(trips).forEach(function (st) {
      handle.stats['trip_vertices_' + st] = trips[st].data.reduce(function (a, d) {
        return a + d.ts.length; }, 0);
    });
    handle.stats.software_gl = soft;
    var deckgl = new deck.Deck({
      parent: canvasBox, width: '100%', height: '100%',
      // multisampling costs software renderers (SwiftShader) about half of each frame
      deviceProps: {webgl: {antialias: !soft}},
      initialViewState: {longitude: fit.longitude, latitude: fit.latitude,
                         zoom: Math.max(1, fit.zoom + 0.15), pitch: 50, bearing: -20, maxPitch: 80},
      controller: true, layers: [], getTooltip: tooltip,
      onAfterRender: function () {
        if (!handle.ready && deckgl.props.layers.length) {
          handle.firstFrameMs = performance.now();
          handle.ready = true;
        }
        handle.frames += 1;
      },
      onError: function (e) { handle.errors.push(String(e && e.message || e)); }
    });
    var cached = null;
    function redraw() {
      ui.rev += 1;
      cached = buildLayers();
      deckgl.setProps({layers: cached});
      handle._hour = Math.floor(ui.time / 3600);
      legendHtml();
      var c = panel.querySelector('.twin-clock');
      if (c) c.textContent = clock(ui.time);
      var sl = panel.querySelector('.twin-slider');
      if (sl && +sl.value !== ui.time) sl.value = ui.time;
      panel.querySelectorAll('.twin-states button').forEach(function (bt) {
        var on = bt.getAttribute('data-state') === ui.state;
        bt.classList.toggle('on', on);
        bt.setAttribute('aria-pressed', on ? 'true' : 'false');
      });
    }
    function timeOnly() {
      if (!cached || Math.floor(ui.time / 3600) !== handle._hour) { redraw(); return; }
      cached = cached.map(function (l) {
        return l.clone(/^trips-/.test(l.id) ? {currentTime: ui.time} : {});
      });
      deckgl.setProps({layers: cached});
      var c = panel.querySelector('.twin-clock');
      if (c) c.textContent = clock(ui.time);
    }

    panel.addEventListener('click', function (e) {
      var t = e.target;
      if (t.getAttribute && t.getAttribute('data-state')) { handle.setState(t.getAttribute('data-state')); }
      if (t.classList && t.classList.contains('twin-play')) { handle.play(!ui.playing); }
    });
    panel.addEventListener('change', function (e) {
      var t = e.target;
      if (t.classList.contains('twin-mode')) handle.setMode(t.value);
      if (t.getAttribute('data-layer')) { ui.visible[t.getAttribute('data-layer')] = t.checked; redraw(); }
    });
    panel.addEventListener('input', function (e) {
      if (e.target.classList.contains('twin-slider')) handle.setTime(+e.target.value);
    });
    var last = null;
    function tick(now) {
      if (!ui.playing) return;
      if (last !== null) {
        var t = ui.time + (now - last) / 1000 * 1200;
        if (t >= hours[1] * 3600 - 60) t = hours[0] * 3600;
        ui.time = t;
        var sl = panel.querySelector('.twin-slider');
        if (sl) sl.value = Math.round(t / 60) * 60;
        timeOnly();
      }
      last = now;
      requestAnimationFrame(tick);
    }
    handle.setTime = function (sec) { ui.time = sec; timeOnly(); };
    handle.setState = function (s) {
      if (s !== 'diff' && states.indexOf(s) < 0) return;
      if (s === 'diff' && !two) return;
      ui.state = s; redraw();
    };
    handle.setMode = function (m) { ui.mode = m; redraw(); };
    handle.play = function (on) {
      if (!hours) return;
      ui.playing = on; last = null;
      var pb = panel.querySelector('.twin-play');
      if (pb) pb.textContent = on ? S.pause : S.play;
      if (on) requestAnimationFrame(tick);
    };
    handle.state = function () { return {state: ui.state, time: ui.time, mode: ui.mode}; };
    handle.destroy = function () { ui.playing = false; deckgl.finalize(); el.innerHTML = ''; };
    handle.deck = deckgl;
    redraw();
    return handle;
  }
  window.TwinMap = {mount: mount, decode: dec};
})();
