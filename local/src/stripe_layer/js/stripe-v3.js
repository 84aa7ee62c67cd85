/* The local stack's Stripe.js stand-in (local/src/stripe_layer/stripe_js.rs): the part of
 * Stripe.js's public API a card checkout uses (https://docs.stripe.com/js), talking to the
 * local Stripe layer as Stripe.js talks to Stripe: a publishable key and the client secret. */
(function () {
  'use strict';

  var script = document.currentScript;
  var BASE = script && script.src ? new URL(script.src).origin : 'http://127.0.0.1:8420';
  var frames = 0;

  function IntegrationError(message) {
    var error = new Error(message);
    error.name = 'IntegrationError';
    return error;
  }

  // Nested parameters as Stripe's form encoding: a[b][c]=v.
  function encode(params, prefix, out) {
    out = out || new URLSearchParams();
    Object.keys(params).forEach(function (name) {
      var value = params[name];
      var key = prefix ? prefix + '[' + name + ']' : name;
      if (value === undefined || value === null) return;
      if (typeof value === 'object') encode(value, key, out);
      else out.append(key, String(value));
    });
    return out;
  }

  function intentId(clientSecret) {
    if (typeof clientSecret !== 'string' || !/^pi_[A-Za-z0-9]+_secret_[A-Za-z0-9]+$/.test(clientSecret)) {
      throw IntegrationError(
        'Invalid value for confirmCardPayment: clientSecret should be a client secret of the form ${id}_secret_${secret}. You specified: ' + clientSecret + '.');
    }
    return clientSecret.split('_secret_')[0];
  }

  function Stripe(key, options) {
    if (typeof key !== 'string' || key.indexOf('pk_') !== 0) {
      throw IntegrationError('Invalid value for Stripe(): apiKey should be a publishable key (pk_...). You specified: ' + key + '.');
    }

    function api(method, path, params) {
      var form = encode(Object.assign({key: key}, params || {}));
      var url = BASE + path;
      var init = {method: method};
      if (method === 'GET') {
        url += (url.indexOf('?') < 0 ? '?' : '&') + form.toString();
      } else {
        init.headers = {'Content-Type': 'application/x-www-form-urlencoded'};
        init.body = form.toString();
      }
      return fetch(url, init).then(function (resp) {
        return resp.json().then(function (body) { return {status: resp.status, body: body}; });
      }, function (err) {
        return {status: 0, body: {error: {type: 'api_connection_error', message: 'Failed to reach Stripe: ' + err.message}}};
      });
    }

    function errorOf(answer) {
      return {error: answer.body && answer.body.error ? answer.body.error : {type: 'api_error', message: 'Unexpected answer ' + answer.status}};
    }

    function retrieve(clientSecret) {
      return api('GET', '/v1/payment_intents/' + intentId(clientSecret), {client_secret: clientSecret})
        .then(function (answer) {
          return answer.status === 200 ? {paymentIntent: answer.body} : errorOf(answer);
        });
    }

    // 3-D Secure, as Stripe's test authentication page: a modal with Complete and Fail.
    function challenge(intent, clientSecret) {
      return new Promise(function (resolve) {
        var overlay = document.createElement('div');
        overlay.id = '__stripeStandInChallenge';
        overlay.setAttribute('role', 'dialog');
        overlay.setAttribute('aria-label', '3D Secure authentication');
        overlay.style.cssText = 'position:fixed;inset:0;z-index:2147483647;background:rgba(0,0,0,.5);display:flex;align-items:center;justify-content:center;font-family:sans-serif';
        overlay.innerHTML =
          '<div style="background:#fff;padding:24px;border-radius:8px;max-width:420px;text-align:center">' +
          '<h2 style="margin-top:0">3D Secure Test Page</h2>' +
          '<p>This is a test page for a 3D Secure authentication of ' +
          (intent.amount / 100).toFixed(2) + ' ' + String(intent.currency).toUpperCase() +
          '. Complete or fail it.</p>' +
          '<button id="test-source-authorize-3ds" type="button">Complete</button> ' +
          '<button id="test-source-fail-3ds" type="button">Fail</button></div>';
        function choose(success) {
          overlay.querySelectorAll('button').forEach(function (b) { b.disabled = true; });
          api('POST', '/v1/payment_intents/' + intent.id + '/_authenticate?success=' + success,
              {client_secret: clientSecret})
            .then(function () { return retrieve(clientSecret); })
            .then(function (result) {
              overlay.remove();
              var pi = result.paymentIntent;
              if (!pi) return resolve(result);
              if (pi.status === 'requires_payment_method') {
                var last = pi.last_payment_error || {};
                return resolve({error: {
                  type: last.type || 'invalid_request_error',
                  code: last.code || 'payment_intent_authentication_failure',
                  message: last.message,
                  payment_intent: pi,
                }});
              }
              resolve({paymentIntent: pi});
            });
        }
        overlay.querySelector('#test-source-authorize-3ds').onclick = function () { choose(true); };
        overlay.querySelector('#test-source-fail-3ds').onclick = function () { choose(false); };
        document.body.appendChild(overlay);
      });
    }

    function afterConfirm(answer, clientSecret, handleActions) {
      if (answer.status !== 200) return errorOf(answer);
      var pi = answer.body;
      if (pi.status === 'requires_action' && handleActions !== false) return challenge(pi, clientSecret);
      return {paymentIntent: pi};
    }

    // The PaymentMethod of confirm's `payment_method`: an id, or {card: element, billing_details}.
    function paymentMethodOf(pm) {
      if (pm === undefined || pm === null) return Promise.resolve({});
      if (typeof pm === 'string') return Promise.resolve({id: pm});
      if (pm.card && pm.card._standIn) return pm.card._standIn.createPaymentMethod(pm.billing_details);
      return Promise.reject(IntegrationError('Invalid value for payment_method: the stand-in takes a PaymentMethod id or {card: cardElement}.'));
    }

    var stripe = {
      elements: function (opts) { return new Elements(stripe, key, opts || {}); },

      confirmCardPayment: function (clientSecret, data, opts) {
        var id = intentId(clientSecret);
        data = data || {};
        return paymentMethodOf(data.payment_method).then(function (made) {
          if (made.error) return {error: made.error};
          var params = {client_secret: clientSecret, payment_method: made.id};
          if (data.return_url) params.return_url = data.return_url;
          return api('POST', '/v1/payment_intents/' + id + '/confirm', params)
            .then(function (answer) { return afterConfirm(answer, clientSecret, opts && opts.handleActions); });
        });
      },

      retrievePaymentIntent: function (clientSecret) {
        intentId(clientSecret);
        return retrieve(clientSecret);
      },

      handleNextAction: function (options) {
        var clientSecret = options && options.clientSecret;
        intentId(clientSecret);
        return retrieve(clientSecret).then(function (result) {
          var pi = result.paymentIntent;
          if (pi && pi.status === 'requires_action') return challenge(pi, clientSecret);
          return result;
        });
      },

      handleCardAction: function (clientSecret) {
        return stripe.handleNextAction({clientSecret: clientSecret});
      },

      createPaymentMethod: function (data) {
        if (!data || data.type !== 'card' || !data.card || !data.card._standIn) {
          return Promise.reject(IntegrationError('createPaymentMethod: the stand-in takes {type: "card", card: cardElement}.'));
        }
        return data.card._standIn.createPaymentMethod(data.billing_details).then(function (made) {
          return made.error ? {error: made.error} : {paymentMethod: made.paymentMethod};
        });
      },
    };
    return stripe;
  }

  function Elements(stripe, key, options) {
    this._key = key;
    this._options = options;
    this._created = {};
  }
  Elements.prototype.create = function (type, options) {
    if (type !== 'card') throw IntegrationError('The Stripe.js stand-in implements only the card Element, not ' + type + '.');
    if (this._created.card) throw IntegrationError('Can only create one Element of type card.');
    var element = new CardElement(this, this._key, options || {});
    this._created.card = element;
    return element;
  };
  Elements.prototype.getElement = function (type) { return this._created[type] || null; };

  function CardElement(elements, key, options) {
    var self = this;
    this._elements = elements;
    this._key = key;
    this._options = options;
    this._handlers = {};
    this._iframe = null;
    this._frameId = '__privateStripeFrame' + (++frames);
    this._pending = {};
    this._seq = 0;
    this._onMessage = function (event) {
      var data = event.data || {};
      if (event.origin !== BASE || data.frame !== self._frameId) return;
      if (data.type === 'event') self._emit(data.name, data.payload);
      if (data.type === 'result' && self._pending[data.seq]) {
        self._pending[data.seq](data.payload);
        delete self._pending[data.seq];
      }
    };
    this._standIn = {
      createPaymentMethod: function (billing) { return self._ask('createPaymentMethod', {billing_details: billing || {}}); },
    };
  }
  CardElement.prototype._post = function (type, payload) {
    if (this._iframe && this._iframe.contentWindow) {
      this._iframe.contentWindow.postMessage({frame: this._frameId, type: type, payload: payload}, BASE);
    }
  };
  CardElement.prototype._ask = function (type, payload) {
    var self = this;
    if (!this._iframe) {
      return Promise.resolve({error: {type: 'validation_error', code: 'incomplete_number', message: 'Your card number is incomplete.'}});
    }
    return new Promise(function (resolve) {
      var seq = ++self._seq;
      self._pending[seq] = resolve;
      self._post(type, Object.assign({seq: seq}, payload));
    });
  };
  CardElement.prototype._emit = function (name, payload) {
    (this._handlers[name] || []).slice().forEach(function (h) { h(payload); });
  };
  CardElement.prototype.mount = function (target) {
    var container = typeof target === 'string' ? document.querySelector(target) : target;
    if (!container) throw IntegrationError('The selector you specified (' + target + ') applies to no DOM elements that are currently on the page.');
    if (this._iframe) throw IntegrationError('This Element is already mounted.');
    var config = {frame: this._frameId, key: this._key, origin: window.location.origin,
                  hidePostalCode: !!this._options.hidePostalCode, value: this._options.value || {}};
    var iframe = document.createElement('iframe');
    iframe.name = this._frameId;
    iframe.title = 'Secure card payment input frame';
    iframe.setAttribute('frameborder', '0');
    iframe.setAttribute('allowtransparency', 'true');
    iframe.setAttribute('scrolling', 'no');
    iframe.style.cssText = 'border:none;width:100%;height:48px;display:block';
    iframe.src = BASE + '/v3/elements/card.html#' + encodeURIComponent(JSON.stringify(config));
    window.addEventListener('message', this._onMessage);
    container.appendChild(iframe);
    this._iframe = iframe;
  };
  CardElement.prototype.on = function (name, handler) {
    (this._handlers[name] = this._handlers[name] || []).push(handler);
    return this;
  };
  CardElement.prototype.off = function (name, handler) {
    var list = this._handlers[name] || [];
    this._handlers[name] = handler ? list.filter(function (h) { return h !== handler; }) : [];
    return this;
  };
  CardElement.prototype.once = function (name, handler) {
    var self = this;
    function wrapped(payload) { self.off(name, wrapped); handler(payload); }
    return this.on(name, wrapped);
  };
  CardElement.prototype.update = function (options) {
    Object.assign(this._options, options || {});
    this._post('update', options || {});
  };
  CardElement.prototype.clear = function () { this._post('clear', {}); };
  CardElement.prototype.focus = function () { this._post('focus', {}); };
  CardElement.prototype.blur = function () { this._post('blur', {}); };
  CardElement.prototype.unmount = function () {
    window.removeEventListener('message', this._onMessage);
    if (this._iframe) this._iframe.remove();
    this._iframe = null;
  };
  CardElement.prototype.destroy = function () {
    this.unmount();
    this._handlers = {};
    if (this._elements._created.card === this) delete this._elements._created.card;
  };

  window.Stripe = Stripe;
})();
