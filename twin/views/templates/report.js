/* twin report: one deck.gl map at a time, chosen from the scenarios' map data blocks. */
(function () {
  'use strict';
  var sel = document.getElementById('twin-map-choose');
  var box = document.getElementById('twin-map');
  var S = JSON.parse(document.getElementById('twin-strings').textContent);
  var current = null;
  function show(i) {
    if (current) current.destroy();
    var data = JSON.parse(document.getElementById('twin-map-' + i).textContent);
    current = TwinMap.mount(box, data, S);
    window.__twin = current;
  }
  sel.addEventListener('change', function () { show(sel.value); });
  show(sel.value || '0');
})();
