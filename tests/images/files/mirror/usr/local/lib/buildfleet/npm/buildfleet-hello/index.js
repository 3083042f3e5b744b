module.exports = 'Hello from the buildfleet lab registry';
