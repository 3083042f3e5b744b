module.exports = 'Hello from the @corp scope of the buildfleet lab registry';
