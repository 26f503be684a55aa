const { defineConfig } = require("unicorn-http");

module.exports = defineConfig({ workers: 3 });
