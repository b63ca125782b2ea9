// Placeholder: the embeddable chat widget is built separately (see docs/protocol.md, /ws/chat).
(function () {
  "use strict";
  window.TiendaChat = window.TiendaChat || { placeholder: true };
})();
